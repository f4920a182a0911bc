//! `http::h2::hpack`: any sequence of header blocks through one `Decoder`, as a connection
//! would feed them, and every list it decodes back through an `Encoder` and a second
//! `Decoder`.
//!
//! The input is a sequence of records `[control] [length] [block: length bytes]`. The control
//! byte's low nibble picks the list limit (`nibble * 256`, 0 meaning no limit), its high bit
//! has the encoder's peer change its table size (to `length * 24`) before the round trip.
//!
//! Checked: no panic; a decoded list (kept fields, with a `TooLarge` too) lies inside `out`
//! and counts (name + value + 32 each) no more than the limit; the dynamic table never
//! passes its setting; after a `Compression` error the connection is gone, so a fresh decoder
//! takes the next block. The round trip gives back the same names and values in order, and
//! both ends of it hold tables of the same size.
#![no_main]

use barehttpd::http::h2::hpack::{Decoder, Encoder, Error, Field};
use libfuzzer_sys::fuzz_target;

const TABLE: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let mut dec = Decoder::new(TABLE);
    let mut enc = Encoder::new();
    let mut back = Decoder::new(TABLE);
    let (mut out, mut fields) = (Vec::new(), Vec::new());
    let (mut block, mut out2, mut fields2) = (Vec::new(), Vec::new(), Vec::new());
    let mut rest = data;
    while let [control, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (input, next) = tail.split_at(n);
        rest = next;
        let max_list = match usize::from(control & 0x0f) * 256 {
            0 => usize::MAX,
            m => m,
        };
        out.clear();
        fields.clear();
        let result = dec.decode(input, &mut out, &mut fields, max_list);
        assert!(dec.table_size() <= TABLE);
        if result == Err(Error::Compression) {
            dec = Decoder::new(TABLE);
            continue;
        }
        let mut listed = 0usize;
        for f in &fields {
            assert!(f.name.start <= f.name.end && f.name.end == f.value.start);
            assert!(f.value.end <= out.len());
            listed += f.name.len() + f.value.len() + 32;
        }
        assert!(listed <= max_list, "{listed} listed over {max_list}");
        assert!(result.is_ok() || out.len() <= max_list);

        if control & 0x80 != 0 {
            enc.set_max_table(usize::from(*len) * 24);
        }
        block.clear();
        enc.begin_block(&mut block);
        for f in &fields {
            enc.field(&out[f.name.clone()], &out[f.value.clone()], &mut block);
        }
        out2.clear();
        fields2.clear();
        back.decode(&block, &mut out2, &mut fields2, usize::MAX)
            .expect("our own block decodes");
        assert_eq!(fields2.len(), fields.len());
        for (a, b) in fields.iter().zip(&fields2) {
            assert_eq!(pair(&out, a), pair(&out2, b));
        }
        assert_eq!(enc.table_size(), back.table_size());
    }
});

fn pair<'a>(out: &'a [u8], f: &Field) -> (&'a [u8], &'a [u8]) {
    (&out[f.name.clone()], &out[f.value.clone()])
}
