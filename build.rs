//! Build step: the listing page's script without its comments and indentation
//! (`OUT_DIR/listing.js`, embedded by `handler::page`). It is sent in every listing page and
//! is in every build, so its size counts twice; the source stays readable. Only whole lines
//! that are comments go, and each line's leading and trailing spaces: nothing inside a
//! line is touched, so strings, regular expressions and automatic semicolons stay as written.

fn main() {
    let src = "src/handler/page/listing.js";
    println!("cargo:rerun-if-changed={src}");
    let text = std::fs::read_to_string(src).expect("the page's script");
    let mut out = String::with_capacity(text.len());
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("listing.js");
    std::fs::write(dest, out).expect("write the script");
}
