//! `include/nar_library_ffi.h` is what cbindgen makes of the code now. `NAR_BLESS_HEADER=1`
//! rewrites it after a deliberate ABI change.

use std::path::Path;

#[test]
fn the_checked_in_header_matches_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new().with_config(config).with_src(dir.join("src/lib.rs")).generate().expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).expect("UTF-8 header");
    let path = dir.join("include/nar_library_ffi.h");
    if std::env::var_os("NAR_BLESS_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write header");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/nar_library_ffi.h differs from the code; after an intended ABI change run \
         NAR_BLESS_HEADER=1 cargo nextest run -p mve-nar -E 'binary(header)'\n--- generated ---\n{generated}"
    );
}
