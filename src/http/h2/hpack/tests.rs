//! HPACK against RFC 7541's examples (Appendix C), its error cases, the bomb, and round
//! trips through our encoder.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

type Pairs = Vec<(String, String)>;

fn pairs(strs: &[(&str, &str)]) -> Pairs {
    strs.iter()
        .map(|&(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn decode(d: &mut Decoder, block: &[u8]) -> Result<Pairs, Error> {
    let (mut out, mut fields) = (Vec::new(), Vec::new());
    d.decode(block, &mut out, &mut fields, usize::MAX)?;
    Ok(fields
        .iter()
        .map(|f| {
            let n = String::from_utf8(out[f.name.clone()].to_vec()).unwrap();
            (n, String::from_utf8(out[f.value.clone()].to_vec()).unwrap())
        })
        .collect())
}

fn table(d: &Decoder) -> Pairs {
    (1..)
        .map_while(|i| d.table_entry(i))
        .map(|(n, v)| {
            (
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect()
}

/// One step of an Appendix C sequence: the block, the list it decodes to, and the dynamic
/// table after it (newest first) with its size.
fn step(d: &mut Decoder, block: &str, list: &[(&str, &str)], after: &[(&str, &str)], size: usize) {
    assert_eq!(decode(d, &hex(block)).unwrap(), pairs(list), "{block}");
    assert_eq!(table(d), pairs(after), "{block}");
    assert_eq!(d.table_size(), size, "{block}");
}

fn int(flags: u8, n: u32, value: usize) -> Vec<u8> {
    let mut out = Vec::new();
    put_integer(&mut out, flags, n, value);
    out
}

/// C.1: integer representation.
#[test]
fn c1_integers() {
    assert_eq!(int(0, 5, 10), [0x0a]);
    assert_eq!(int(0, 5, 1337), [0x1f, 0x9a, 0x0a]);
    assert_eq!(int(0, 8, 42), [0x2a]);
    for (bytes, n, value) in [
        (vec![0x0a], 5, 10),
        (vec![0x1f, 0x9a, 0x0a], 5, 1337),
        (vec![42], 8, 42),
    ] {
        let mut pos = 0;
        assert_eq!(integer(&bytes, &mut pos, n), Ok(value));
        assert_eq!(pos, bytes.len());
    }
    for value in [
        0,
        30,
        31,
        127,
        128,
        16383,
        16384,
        1 << 21,
        u32::MAX as usize,
    ] {
        for n in 4..=8 {
            let mut pos = 0;
            assert_eq!(
                integer(&int(0, n, value), &mut pos, n),
                Ok(value),
                "{value} in {n} bits"
            );
        }
    }
}

/// C.2: header field representations, each from an empty table.
#[test]
fn c2_field_representations() {
    let mut d = Decoder::new(4096);
    step(
        &mut d,
        "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
        &[("custom-key", "custom-header")],
        &[("custom-key", "custom-header")],
        55,
    );
    let mut d = Decoder::new(4096);
    step(
        &mut d,
        "040c 2f73 616d 706c 652f 7061 7468",
        &[(":path", "/sample/path")],
        &[],
        0,
    );
    let mut d = Decoder::new(4096);
    let block = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
    let (mut out, mut fields) = (Vec::new(), Vec::new());
    d.decode(&block, &mut out, &mut fields, usize::MAX).unwrap();
    assert_eq!(fields.len(), 1);
    assert_eq!(
        (&out[fields[0].name.clone()], &out[fields[0].value.clone()]),
        (&b"password"[..], &b"secret"[..])
    );
    assert!(fields[0].never_indexed, "C.2.3: never indexed");
    assert!(table(&d).is_empty());
    let mut d = Decoder::new(4096);
    step(&mut d, "82", &[(":method", "GET")], &[], 0);
}

const C3_1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const C3_2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const C3_3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];
const C3_T1: &[(&str, &str)] = &[(":authority", "www.example.com")];
const C3_T2: &[(&str, &str)] = &[
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];
const C3_T3: &[(&str, &str)] = &[
    ("custom-key", "custom-value"),
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];

/// C.3: requests without Huffman coding, on one connection.
#[test]
fn c3_requests_without_huffman() {
    let mut d = Decoder::new(4096);
    step(
        &mut d,
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        C3_1,
        C3_T1,
        57,
    );
    step(
        &mut d,
        "8286 84be 5808 6e6f 2d63 6163 6865",
        C3_2,
        C3_T2,
        110,
    );
    step(
        &mut d,
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        C3_3,
        C3_T3,
        164,
    );
}

/// C.4: the same requests with Huffman coding.
#[test]
fn c4_requests_with_huffman() {
    let mut d = Decoder::new(4096);
    step(
        &mut d,
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        C3_1,
        C3_T1,
        57,
    );
    step(&mut d, "8286 84be 5886 a8eb 1064 9cbf", C3_2, C3_T2, 110);
    step(
        &mut d,
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        C3_3,
        C3_T3,
        164,
    );
}

const C5_1: &[(&str, &str)] = &[
    (":status", "302"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const C5_T1: &[(&str, &str)] = &[
    ("location", "https://www.example.com"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("cache-control", "private"),
    (":status", "302"),
];
const C5_2: &[(&str, &str)] = &[
    (":status", "307"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const C5_T2: &[(&str, &str)] = &[
    (":status", "307"),
    ("location", "https://www.example.com"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("cache-control", "private"),
];
const COOKIE: &str = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
const C5_3: &[(&str, &str)] = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    ("location", "https://www.example.com"),
    ("content-encoding", "gzip"),
    ("set-cookie", COOKIE),
];
const C5_T3: &[(&str, &str)] = &[
    ("set-cookie", COOKIE),
    ("content-encoding", "gzip"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
];

/// C.5: responses without Huffman coding, in a 256-byte table (so entries are evicted).
#[test]
fn c5_responses_without_huffman() {
    let mut d = Decoder::new(256);
    step(
        &mut d,
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032
         303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63
         6f6d",
        C5_1,
        C5_T1,
        222,
    );
    step(&mut d, "4803 3330 37c1 c0bf", C5_2, C5_T2, 222);
    step(
        &mut d,
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0
         5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851
         5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
        C5_3,
        C5_T3,
        215,
    );
}

/// C.6: the same responses with Huffman coding.
#[test]
fn c6_responses_with_huffman() {
    let mut d = Decoder::new(256);
    step(
        &mut d,
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b
         ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        C5_1,
        C5_T1,
        222,
    );
    step(&mut d, "4883 640e ffc1 c0bf", C5_2, C5_T2, 222);
    step(
        &mut d,
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad
         94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160
         65c0 03ed 4ee5 b106 3d50 07",
        C5_3,
        C5_T3,
        215,
    );
}

/// C.4 and C.6: our Huffman encoder produces the RFC's strings (`put_string` picks Huffman
/// for each of these, being shorter).
#[test]
fn c4_c6_huffman_strings() {
    for (s, coded) in [
        ("www.example.com", "8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"),
        ("no-cache", "86a8 eb10 649c bf"),
        ("custom-key", "8825 a849 e95b a97d 7f"),
        ("custom-value", "8925 a849 e95b b8e8 b4bf"),
        ("302", "8264 02"),
        ("private", "85ae c377 1a4b"),
        (
            "Mon, 21 Oct 2013 20:13:21 GMT",
            "96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff",
        ),
        (
            "https://www.example.com",
            "919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        ),
        ("gzip", "839b d9ab"),
        (
            COOKIE,
            "ad94 e782 1dd7 f2e6 c7b3 35df dfcd 5b39 60d5 af27 087f 3672 c1ab 270f b529 1f95 8731
             6065 c003 ed4e e5b1 063d 5007",
        ),
    ] {
        let mut out = Vec::new();
        put_string(&mut out, s.as_bytes());
        assert_eq!(out, hex(coded), "{s}");
    }
    // Three bytes either way: sent as they are, though the RFC's example codes it.
    let mut out = Vec::new();
    huffman::encode(b"307", &mut out);
    assert_eq!(out, hex("640e ff"));
    out.clear();
    put_string(&mut out, b"307");
    assert_eq!(out, b"\x03307");
}

/// §6.1, §2.3.3: index 0 and indices past both tables are decoding errors.
#[test]
fn bad_index_is_a_compression_error() {
    let mut d = Decoder::new(4096);
    assert_eq!(decode(&mut d, &[0x80]), Err(Error::Compression));
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(&mut d, &[0xbe]),
        Err(Error::Compression),
        "62 with an empty table"
    );
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(&mut d, &hex("400a 6375 7374 6f6d 2d6b 6579 00"))
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        decode(&mut d, &[0xbe]).unwrap(),
        pairs(&[("custom-key", "")])
    );
    assert_eq!(
        decode(&mut d, &[0xbf]),
        Err(Error::Compression),
        "63 with one entry"
    );
    // A literal whose name index is past the tables.
    let mut d = Decoder::new(4096);
    assert_eq!(decode(&mut d, &[0x7f, 0x00, 0x00]), Err(Error::Compression));
}

/// §4.2, §6.3: an update larger than the setting is an error; so is one after a field.
#[test]
fn table_size_updates() {
    let mut d = Decoder::new(4096);
    assert_eq!(decode(&mut d, &int(0x20, 5, 4097)), Err(Error::Compression));
    let mut d = Decoder::new(4096);
    assert_eq!(decode(&mut d, &[0x82, 0x20]), Err(Error::Compression));
    // Two updates at the start are allowed (§4.2), and they evict.
    let mut d = Decoder::new(4096);
    decode(&mut d, &hex("400a 6375 7374 6f6d 2d6b 6579 00")).unwrap();
    assert_eq!(d.table_size(), 42);
    let mut block = vec![0x20];
    block.extend(int(0x20, 5, 4096));
    block.push(0x82);
    assert_eq!(
        decode(&mut d, &block).unwrap(),
        pairs(&[(":method", "GET")])
    );
    assert_eq!(d.table_size(), 0);
    // An update alone is a valid block; shrinking to 41 leaves no room for a 42-byte entry.
    assert_eq!(decode(&mut d, &int(0x20, 5, 41)).unwrap(), pairs(&[]));
    decode(&mut d, &hex("400a 6375 7374 6f6d 2d6b 6579 00")).unwrap();
    assert_eq!((d.table_size(), table(&d)), (0, pairs(&[])));
}

/// §5.2: bad Huffman padding and EOS make the block undecodable.
#[test]
fn bad_huffman_is_a_compression_error() {
    // A literal name of one Huffman byte 0xff: eight bits of padding.
    for block in [
        &[0x00, 0x81, 0xff, 0x00][..],
        // 'a' then 110: padding not all ones.
        &[0x00, 0x81, 0x1e, 0x00],
        // EOS in a value.
        &[0x00, 0x01, b'a', 0x84, 0xff, 0xff, 0xff, 0xff],
    ] {
        let mut d = Decoder::new(4096);
        assert_eq!(
            decode(&mut d, block),
            Err(Error::Compression),
            "{block:02x?}"
        );
    }
}

/// §5.1: integers past u32 or with too many continuation bytes.
#[test]
fn integer_overflow_is_a_compression_error() {
    for block in [
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0x0f][..],
        &[0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
    ] {
        let mut pos = 0;
        assert_eq!(
            integer(block, &mut pos, 7),
            Err(Error::Compression),
            "{block:02x?}"
        );
        let mut d = Decoder::new(4096);
        assert_eq!(
            decode(&mut d, block),
            Err(Error::Compression),
            "{block:02x?}"
        );
    }
    // A name length past u32.
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(&mut d, &[0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x7f]),
        Err(Error::Compression)
    );
    // The largest: u32::MAX in five continuation bytes.
    let mut pos = 0;
    assert_eq!(
        integer(&int(0, 7, u32::MAX as usize), &mut pos, 7),
        Ok(u32::MAX as usize)
    );
}

/// A block cut anywhere inside a field is malformed.
#[test]
fn truncated_blocks_are_compression_errors() {
    let whole = hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff");
    for cut in 4..whole.len() {
        let mut d = Decoder::new(4096);
        assert_eq!(
            decode(&mut d, &whole[..cut]),
            Err(Error::Compression),
            "cut at {cut}"
        );
    }
    for block in [
        &[0x1f][..],
        &[0x40],
        &[0x40, 0x01, b'a'],
        &[0x04, 0x05, b'/'],
        &[0x3f],
    ] {
        let mut d = Decoder::new(4096);
        assert_eq!(
            decode(&mut d, block),
            Err(Error::Compression),
            "{block:02x?}"
        );
    }
}

/// The HPACK bomb: one 4 KB entry named thousands of times in a small block. Decoding stops
/// copying once the list passes the limit, and the table stays in step: the next block,
/// which refers to the entry, decodes.
#[test]
fn hpack_bomb_stops_at_the_limit_and_keeps_the_table() {
    let big = "a".repeat(4000);
    let mut block = vec![0x40, 0x01, b'x'];
    block.extend(int(0, 7, big.len()));
    block.extend(big.as_bytes());
    block.extend(std::iter::repeat_n(0xbe, 10_000));
    block.extend(hex("400a 6375 7374 6f6d 2d6b 6579 00"));
    let max_list = 16 * 1024;
    let mut d = Decoder::new(4096);
    let (mut out, mut fields) = (Vec::new(), Vec::new());
    assert_eq!(
        d.decode(&block, &mut out, &mut fields, max_list),
        Err(Error::TooLarge)
    );
    assert!(out.len() <= max_list, "{} bytes copied", out.len());
    // Four fields of 4033 fit in 16384, the fifth does not.
    assert_eq!(fields.len(), 4);
    assert!(out.capacity() <= 2 * max_list);
    // The last field of the block was still entered: the table is in step.
    assert_eq!(table(&d)[0], ("custom-key".to_string(), String::new()));
    assert_eq!(decode(&mut d, &[0xbf, 0xbe]).unwrap().len(), 2);
    // A list exactly at the limit is fine.
    let mut d = Decoder::new(4096);
    let (mut out, mut fields) = (Vec::new(), Vec::new());
    d.decode(&[0x82, 0x84], &mut out, &mut fields, 2 * 32 + 7 + 3 + 5 + 1)
        .unwrap();
    assert_eq!(fields.len(), 2);
}

/// §4.4: a new entry may take its name from an entry that the insertion evicts.
#[test]
fn new_entry_named_after_the_entry_it_evicts() {
    let mut d = Decoder::new(60);
    // "custom-key": "" is 42 bytes; the next entry of 42 + 10 cannot sit beside it.
    decode(&mut d, &hex("400a 6375 7374 6f6d 2d6b 6579 00")).unwrap();
    let mut block = vec![0x7e, 0x0a];
    block.extend(b"0123456789");
    assert_eq!(
        decode(&mut d, &block).unwrap(),
        pairs(&[("custom-key", "0123456789")])
    );
    assert_eq!(table(&d), pairs(&[("custom-key", "0123456789")]));
    assert_eq!(d.table_size(), 52);
}

/// A small PRNG for the model tests (no dependency for one test).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

/// The table against a plain list, through thousands of insertions (with names from
/// entries), evictions and size changes, which wrap and compact the byte buffer many times.
#[test]
fn table_matches_a_plain_model() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let limit = 300;
    let mut t = Table::new(limit);
    let mut model: Vec<(Vec<u8>, Vec<u8>)> = Vec::new(); // newest first
    let mut max = limit;
    for round in 0..20_000 {
        match rng.below(20) {
            0 => {
                max = rng.below(limit as u64 + 1);
                t.set_max(max);
            }
            1..=5 if !model.is_empty() => {
                let i = rng.below(model.len() as u64) + 1;
                let value = vec![b'v'; rng.below(80)];
                let name = model[i - 1].0.clone();
                t.insert(NameSrc::Entry(i), &value);
                model.insert(0, (name, value));
            }
            _ => {
                let name = vec![b'a' + rng.below(26) as u8; rng.below(60) + 1];
                let value = vec![b'0' + rng.below(10) as u8; rng.below(120)];
                t.insert(NameSrc::Bytes(&name), &value);
                model.insert(0, (name, value));
            }
        }
        let cost = |e: &(Vec<u8>, Vec<u8>)| e.0.len() + e.1.len() + 32;
        if model.first().is_some_and(|e| cost(e) > max) {
            model.clear();
        }
        while model.iter().map(cost).sum::<usize>() > max {
            model.pop();
        }
        let got: Vec<_> = (1..=t.len())
            .map(|i| t.get(i).map(|(n, v)| (n.to_vec(), v.to_vec())).unwrap())
            .collect();
        assert_eq!(got, model, "round {round}");
        assert_eq!(t.size, model.iter().map(cost).sum::<usize>());
        assert!(t.bytes.capacity() <= 2 * limit);
        assert!(t.entries.capacity() <= 2 * (limit / 32 + 1));
    }
}

fn response(date: &str, len: &str) -> Vec<(&'static str, String)> {
    vec![
        ("server", "barehttpd".to_string()),
        ("date", date.to_string()),
        ("content-type", "text/html; charset=utf-8".to_string()),
        ("content-length", len.to_string()),
        ("last-modified", "Sat, 05 Dec 2026 05:00:00 GMT".to_string()),
        ("etag", format!("\"{len}-5f3a\"")),
        ("accept-ranges", "bytes".to_string()),
        ("x-custom", "Mixed Case Value".to_string()),
    ]
}

fn encode(e: &mut Encoder, status: u16, fields: &[(&str, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    e.status(status, &mut out);
    for (n, v) in fields {
        e.field(n.as_bytes(), v.as_bytes(), &mut out);
    }
    out
}

fn with_status(status: u16, fields: &[(&str, String)]) -> Pairs {
    let mut p = vec![(":status".to_string(), status.to_string())];
    p.extend(fields.iter().map(|(n, v)| (n.to_string(), v.clone())));
    p
}

/// Our encoder's blocks decode to what was encoded, response after response, with both
/// tables the same size after each; and indexing the repeating fields pays: the
/// second response on the connection is 50 bytes shorter than the first.
#[test]
fn encoder_round_trips_and_indexing_pays() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    let mut sizes = Vec::new();
    for (i, status) in [200u16, 200, 404, 301, 206, 304, 500, 999, 100, 200]
        .into_iter()
        .enumerate()
    {
        let date = format!("Sat, 05 Dec 2026 05:00:0{} GMT", i / 4);
        let fields = response(&date, &(1000 + i).to_string());
        let block = encode(&mut e, status, &fields);
        assert_eq!(
            decode(&mut d, &block).unwrap(),
            with_status(status, &fields)
        );
        assert_eq!(e.table_size(), d.table_size());
        sizes.push(block.len());
    }
    // Server, date, content-type and accept-ranges come down to a byte each.
    assert!(sizes[0] - sizes[1] >= 50, "block sizes {sizes:?}");
    // The figures behind the choice of fields to index, for the record.
    eprintln!("block sizes with indexing: {sizes:?}");
}

/// The same answer again on a connection (a file asked twice, within the second of its
/// Date) is a byte per field: its ETag, Last-Modified and Content-Length are in the table
/// too. A Location or Content-Range stays out of it, and a Set-Cookie goes as a
/// never-indexed literal (§7.1.3), which the peer's decoder takes as any literal.
#[test]
fn a_repeated_response_is_a_byte_per_field_and_secrets_are_never_indexed() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    let fields = response("Sat, 05 Dec 2026 05:00:00 GMT", "13");
    let first = encode(&mut e, 200, &fields);
    decode(&mut d, &first).unwrap();
    let again = encode(&mut e, 200, &fields);
    assert_eq!(decode(&mut d, &again).unwrap(), with_status(200, &fields));
    assert_eq!(again.len(), 1 + fields.len(), "{again:x?}");
    assert!(
        again.iter().all(|&b| b & 0x80 != 0),
        "all indexed: {again:x?}"
    );

    let before = e.table_size();
    for (name, value) in [
        ("location", "/elsewhere/"),
        ("content-range", "bytes 0-9/100"),
        ("set-cookie", "session=s3cr3t"),
    ] {
        let mut b = Vec::new();
        e.field(name.as_bytes(), value.as_bytes(), &mut b);
        let twice = b.len();
        e.field(name.as_bytes(), value.as_bytes(), &mut b);
        assert_eq!(b.len(), 2 * twice, "{name} is not indexed");
        let kind = b[0] & 0xF0;
        assert_eq!(
            kind,
            if name == "set-cookie" { 0x10 } else { 0x00 },
            "{name}"
        );
        let (mut bytes, mut got) = (Vec::new(), Vec::new());
        d.decode(&b, &mut bytes, &mut got, usize::MAX).unwrap();
        assert_eq!(&bytes[got[1].value.clone()], value.as_bytes());
    }
    assert_eq!(e.table_size(), before);
}

/// §4.2: the peer shrinks its table to 0 then allows more again before our next block: we
/// signal the smallest size, then the size we use; the peer's decoder follows.
#[test]
fn encoder_signals_table_size_changes() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    let fields = response("Sat, 05 Dec 2026 05:00:00 GMT", "13");
    let first = encode(&mut e, 200, &fields);
    assert_eq!(
        &first[..3],
        &int(0x20, 5, ENCODER_TABLE_SIZE)[..],
        "our size announced first"
    );
    decode(&mut d, &first).unwrap();
    assert!(e.table_size() > 0);
    e.set_max_table(0);
    e.set_max_table(4096);
    assert_eq!(e.table_size(), 0);
    let block = encode(&mut e, 200, &fields);
    assert_eq!(block[0], 0x20, "size 0 first");
    assert_eq!(decode(&mut d, &block).unwrap(), with_status(200, &fields));
    assert_eq!(e.table_size(), d.table_size());
    // A peer that allows only 100 bytes: nothing over 25 bytes is indexed, the rest goes on.
    let mut e = Encoder::new();
    e.set_max_table(100);
    let mut d = Decoder::new(100);
    for _ in 0..3 {
        let block = encode(&mut e, 200, &fields);
        assert_eq!(decode(&mut d, &block).unwrap(), with_status(200, &fields));
        assert_eq!(e.table_size(), d.table_size());
        assert!(d.table_size() <= 100);
    }
    // A block without :status starts with the update itself.
    e.set_max_table(50);
    let mut out = Vec::new();
    e.begin_block(&mut out);
    e.field(b"grpc-status", b"0", &mut out);
    assert_eq!(out[0] & 0xe0, 0x20);
    assert_eq!(
        decode(&mut d, &out).unwrap(),
        pairs(&[("grpc-status", "0")])
    );
}

/// Random fields, names and values of any bytes, through the encoder and back.
#[test]
fn random_fields_round_trip() {
    let mut rng = Rng(42);
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    let names = [
        "server",
        "date",
        "content-type",
        "vary",
        "x-a",
        "etag",
        ":status",
        "accept-ranges",
    ];
    for _ in 0..2000 {
        let mut want = Vec::new();
        let mut out = Vec::new();
        e.begin_block(&mut out);
        for _ in 0..rng.below(8) {
            let name = if rng.below(4) == 0 {
                (0..rng.below(20) + 1).map(|_| rng.next() as u8).collect()
            } else {
                names[rng.below(names.len() as u64)].as_bytes().to_vec()
            };
            let value: Vec<u8> = (0..rng.below(40))
                .map(|_| b"abc 019/\xff"[rng.below(9)])
                .collect();
            e.field(&name, &value, &mut out);
            want.push((name, value));
        }
        let (mut bytes, mut fields) = (Vec::new(), Vec::new());
        d.decode(&out, &mut bytes, &mut fields, usize::MAX).unwrap();
        let got: Vec<_> = fields
            .iter()
            .map(|f| {
                (
                    bytes[f.name.clone()].to_vec(),
                    bytes[f.value.clone()].to_vec(),
                )
            })
            .collect();
        assert_eq!(got, want);
        assert_eq!(e.table_size(), d.table_size());
        if rng.below(50) == 0 {
            e.set_max_table(rng.below(5000));
        }
    }
}

/// No allocation per block in steady state: once the buffers have grown to what the blocks
/// need, a thousand more blocks (entering, naming and evicting entries, Huffman strings)
/// leave every buffer where it was and as large as it was.
#[test]
fn steady_state_reuses_every_buffer() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    let (mut block, mut out, mut fields) = (Vec::new(), Vec::new(), Vec::new());
    let mut round = |i: usize, e: &mut Encoder, d: &mut Decoder| {
        block.clear();
        out.clear();
        fields.clear();
        e.status(if i.is_multiple_of(3) { 200 } else { 302 }, &mut block);
        let date = format!("Sat, 05 Dec 2026 05:{:02}:{:02} GMT", i / 60 % 60, i % 60);
        e.field(b"date", date.as_bytes(), &mut block);
        e.field(
            b"content-type",
            [&b"text/plain"[..], b"image/png"][i % 2],
            &mut block,
        );
        e.field(b"content-length", i.to_string().as_bytes(), &mut block);
        // A field the encoder indexes, with a value that changes: the tables churn.
        e.field(b"vary", format!("x-{i:0100}").as_bytes(), &mut block);
        d.decode(&block, &mut out, &mut fields, 16 * 1024).unwrap();
        assert_eq!(fields.len(), 5);
        (block.as_ptr(), out.as_ptr(), fields.as_ptr())
    };
    let buffers = |e: &Encoder, d: &Decoder| {
        [
            (e.table.bytes.as_ptr(), e.table.bytes.capacity()),
            (d.table.bytes.as_ptr(), d.table.bytes.capacity()),
            (d.scratch.as_ptr(), d.scratch.capacity()),
            (std::ptr::null(), e.table.entries.capacity()),
            (std::ptr::null(), d.table.entries.capacity()),
        ]
    };
    let mut first = None;
    for i in 0..100 {
        first = Some(round(i, &mut e, &mut d));
    }
    let before = buffers(&e, &d);
    for i in 100..1100 {
        assert_eq!(Some(round(i, &mut e, &mut d)), first, "round {i}");
    }
    assert_eq!(buffers(&e, &d), before);
    assert!(
        d.table_size() > ENCODER_TABLE_SIZE - 200,
        "table not full: {}",
        d.table_size()
    );
}

/// `Encoder::state`: a block that changed nothing in the table is the block the same fields
/// give again while the state stays, and a change of the table (an insertion, a new size)
/// moves the state.
#[test]
fn the_state_tells_when_a_block_may_be_sent_again() {
    let mut enc = Encoder::new();
    let mut first = Vec::new();
    enc.status(200, &mut first);
    assert_eq!(
        enc.state(),
        Some(0),
        "the size update went out with the first block"
    );
    enc.field(b"content-type", b"text/plain", &mut first);
    let after_insert = enc.state();
    assert_ne!(after_insert, Some(0), "an insertion moves the state");
    let encode = |enc: &mut Encoder| {
        let mut b = Vec::new();
        enc.status(200, &mut b);
        enc.field(b"content-type", b"text/plain", &mut b);
        enc.field(b"location", b"/abc", &mut b);
        b
    };
    let second = encode(&mut enc);
    let third = encode(&mut enc);
    assert_eq!(
        enc.state(),
        after_insert,
        "references and literals change nothing"
    );
    assert_eq!(second, third);
    let mut dec = Decoder::new(4096);
    let (mut out, mut fields) = (Vec::new(), Vec::new());
    for b in [&first, &second, &third] {
        dec.decode(b, &mut out, &mut fields, 1 << 16).unwrap();
    }
    enc.set_max_table(256);
    assert_eq!(enc.state(), None, "a size update is owed");
    let mut b = Vec::new();
    enc.status(200, &mut b);
    assert_ne!(enc.state(), after_insert);
}
