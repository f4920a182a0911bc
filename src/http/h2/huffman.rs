//! The Huffman code of HPACK (RFC 7541 §5.2, Appendix B): encoding, and a table-driven
//! decoder that reads four bits at a time.
//!
//! The code of Appendix B is canonical (codes of one length are consecutive in symbol order,
//! and each length's first code follows the last of the length before), so it is written
//! here as its 257 code lengths; the codes, the code tree and the decoder's state table are
//! all derived from them at compile time. The test `codes_match_appendix_b` checks the
//! derivation against codes printed in the RFC.
//!
//! The decoder is a state machine over the internal nodes of the code tree (256 of them for
//! 257 leaves): each state and input nibble give the next state and at most one decoded
//! symbol (no code is shorter than five bits). It rejects EOS in the data, and padding that
//! is longer than seven bits or not all ones (§5.2). This module owns no state and does not
//! know about HPACK's string framing (`hpack` does that).

/// Code lengths in bits, by symbol: 0..=255 are the octets, 256 is EOS (RFC 7541 Appendix B).
const LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5,
    5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
    6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22,
    23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22,
    21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20,
    22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
    21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22,
    22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

const EOS: usize = 256;
const MAX_LEN: u8 = 30;

/// The canonical codes, by symbol, right-aligned.
static CODES: [u32; 257] = canonical_codes();

const fn canonical_codes() -> [u32; 257] {
    let mut codes = [0u32; 257];
    let mut code = 0u32;
    let mut len = 1;
    while len <= MAX_LEN {
        let mut sym = 0;
        while sym < 257 {
            if LENGTHS[sym] == len {
                codes[sym] = code;
                code += 1;
            }
            sym += 1;
        }
        code <<= 1;
        len += 1;
    }
    codes
}

/// A child in the code tree: an internal node's number, or `LEAF | symbol`.
const LEAF: u16 = 0x8000;
const NODES: usize = 256;

/// One step of the decoder: the state after a nibble, and what it produced.
#[derive(Clone, Copy)]
struct Step {
    next: u8,
    sym: u8,
    flags: u8,
}

/// `sym` is a decoded octet.
const EMIT: u8 = 1;
/// The nibble completed EOS: an error wherever it occurs (§5.2).
const FAIL: u8 = 2;
/// The data may end in the state reached: its path from the root is at most seven 1 bits,
/// which is valid padding (a prefix of EOS).
const ACCEPT: u8 = 4;

static STEPS: [[Step; 16]; NODES] = build_steps();

const fn build_steps() -> [[Step; 16]; NODES] {
    // The code tree, node 0 the root; `ones[n]` is the depth of node n if its path is all
    // 1 bits, else 0xff.
    let mut tree = [[0u16; 2]; NODES];
    let mut ones = [0xffu8; NODES];
    ones[0] = 0;
    let mut used = 1;
    let mut sym = 0;
    while sym < 257 {
        let len = LENGTHS[sym] as u32;
        let code = CODES[sym];
        let mut node = 0usize;
        let mut i = 0;
        while i < len {
            let bit = ((code >> (len - 1 - i)) & 1) as usize;
            if i + 1 == len {
                tree[node][bit] = LEAF | sym as u16;
            } else {
                if tree[node][bit] == 0 {
                    tree[node][bit] = used as u16;
                    if bit == 1 && ones[node] != 0xff {
                        ones[used] = ones[node] + 1;
                    }
                    used += 1;
                }
                node = tree[node][bit] as usize;
            }
            i += 1;
        }
        sym += 1;
    }
    let mut steps = [[Step {
        next: 0,
        sym: 0,
        flags: 0,
    }; 16]; NODES];
    let mut state = 0;
    while state < NODES {
        let mut nibble = 0;
        while nibble < 16 {
            let mut node = state;
            let mut step = Step {
                next: 0,
                sym: 0,
                flags: 0,
            };
            let mut i = 0;
            while i < 4 {
                let bit = (nibble >> (3 - i)) & 1;
                let child = tree[node][bit];
                if child & LEAF != 0 {
                    let s = (child & !LEAF) as usize;
                    if s == EOS {
                        step.flags |= FAIL;
                    } else {
                        step.sym = s as u8;
                        step.flags |= EMIT;
                    }
                    node = 0;
                } else {
                    node = child as usize;
                }
                i += 1;
            }
            step.next = node as u8;
            if ones[node] <= 7 {
                step.flags |= ACCEPT;
            }
            steps[state][nibble] = step;
            nibble += 1;
        }
        state += 1;
    }
    steps
}

/// Invalid Huffman data: EOS decoded, or bad padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invalid;

/// Decode `data`, appending the octets to `out`.
pub fn decode(data: &[u8], out: &mut Vec<u8>) -> Result<(), Invalid> {
    // Every code is at least five bits: this is the most the data can hold.
    out.reserve(data.len() * 8 / 5);
    let mut state = 0usize;
    let mut accept = true;
    for &byte in data {
        for nibble in [byte >> 4, byte & 0x0f] {
            let step = STEPS[state][nibble as usize];
            if step.flags & FAIL != 0 {
                return Err(Invalid);
            }
            if step.flags & EMIT != 0 {
                out.push(step.sym);
            }
            state = step.next as usize;
            accept = step.flags & ACCEPT != 0;
        }
    }
    if accept { Ok(()) } else { Err(Invalid) }
}

/// The length in bytes of `data` once encoded.
pub fn encoded_len(data: &[u8]) -> usize {
    let bits: usize = data.iter().map(|&b| LENGTHS[b as usize] as usize).sum();
    bits.div_ceil(8)
}

/// Encode `data`, appending to `out`; the last byte is padded with the high bits of EOS.
pub fn encode(data: &[u8], out: &mut Vec<u8>) {
    out.reserve(encoded_len(data));
    // Bits not yet written are the low `pending` bits of `acc` (at most 7 + 30 of them).
    let mut acc: u64 = 0;
    let mut pending: u32 = 0;
    for &b in data {
        let len = LENGTHS[b as usize] as u32;
        acc = (acc << len) | CODES[b as usize] as u64;
        pending += len;
        while pending >= 8 {
            pending -= 8;
            out.push((acc >> pending) as u8);
        }
    }
    if pending > 0 {
        out.push(((acc << (8 - pending)) as u8) | (0xff >> pending));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_appendix_b() {
        // A sample of Appendix B's table, from each length group and both ends.
        let expect: [(usize, u32, u8); 10] = [
            (b'0' as usize, 0x0, 5),
            (b'a' as usize, 0x3, 5),
            (b' ' as usize, 0x14, 6),
            (b'%' as usize, 0x15, 6),
            (b':' as usize, 0x5c, 7),
            (b'&' as usize, 0xf8, 8),
            (0, 0x1ff8, 13),
            (b'\n' as usize, 0x3ffffffc, 30),
            (255, 0x3ffffee, 26),
            (EOS, 0x3fffffff, 30),
        ];
        for (sym, code, len) in expect {
            assert_eq!((CODES[sym], LENGTHS[sym]), (code, len), "symbol {sym}");
        }
        // A complete prefix code: the Kraft sum is exactly 1.
        let kraft: u64 = LENGTHS.iter().map(|&l| 1u64 << (30 - l)).sum();
        assert_eq!(kraft, 1 << 30);
    }

    #[test]
    fn every_octet_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let mut enc = Vec::new();
        encode(&all, &mut enc);
        assert_eq!(enc.len(), encoded_len(&all));
        let mut dec = Vec::new();
        decode(&enc, &mut dec).unwrap();
        assert_eq!(dec, all);
        for b in 0..=255u8 {
            for n in 1..4 {
                let s = vec![b; n];
                let (mut e, mut d) = (Vec::new(), Vec::new());
                encode(&s, &mut e);
                decode(&e, &mut d).unwrap();
                assert_eq!(d, s);
            }
        }
    }

    #[test]
    fn rfc7541_c4_1() {
        let mut e = Vec::new();
        encode(b"www.example.com", &mut e);
        assert_eq!(
            e,
            [
                0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff
            ]
        );
    }

    /// §5.2: "A padding strictly longer than 7 bits MUST be treated as a decoding error."
    #[test]
    fn padding_longer_than_seven_bits_is_an_error() {
        // 'a' (00011) then 11 bits of ones.
        assert_eq!(decode(&[0x1f, 0xff], &mut Vec::new()), Err(Invalid));
        // A whole byte of padding alone.
        assert_eq!(decode(&[0xff], &mut Vec::new()), Err(Invalid));
        // 'a' then three 1s is fine.
        let mut d = Vec::new();
        decode(&[0x1f], &mut d).unwrap();
        assert_eq!(d, b"a");
    }

    /// §5.2: "A padding not corresponding to the most significant bits of the code for the
    /// EOS symbol MUST be treated as a decoding error."
    #[test]
    fn padding_not_all_ones_is_an_error() {
        // 'a' (00011) then 110.
        assert_eq!(decode(&[0x1e], &mut Vec::new()), Err(Invalid));
        // 'a' then 000: that is the start of '0' (00000), unfinished.
        assert_eq!(decode(&[0x18], &mut Vec::new()), Err(Invalid));
    }

    /// §5.2: "A Huffman-encoded string literal containing the EOS symbol MUST be treated as
    /// a decoding error."
    #[test]
    fn eos_is_an_error() {
        // 30 ones then two ones of padding.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff], &mut Vec::new()),
            Err(Invalid)
        );
        // 'a', EOS, padding.
        assert_eq!(
            decode(&[0x1f, 0xff, 0xff, 0xff, 0xff], &mut Vec::new()),
            Err(Invalid)
        );
    }

    #[test]
    fn empty_is_empty() {
        let mut d = Vec::new();
        decode(&[], &mut d).unwrap();
        assert!(d.is_empty());
        encode(b"", &mut d);
        assert!(d.is_empty());
    }
}
