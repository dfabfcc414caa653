//! Compiles c/nar_client.c, the game client's path (init -> generate -> free -> shutdown) in C,
//! against the checked-in header; the library is opened with dlopen at run time.

fn main() {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let include = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../platform/nar/include");
    let compiler = cc::Build::new().get_compiler();
    let exe = out.join("nar_client");
    let status = compiler
        .to_command()
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O1", "-I"])
        .arg(&include)
        .arg("c/nar_client.c")
        .arg("-o")
        .arg(&exe)
        .arg("-ldl")
        .status()
        .expect("run the C compiler");
    assert!(status.success(), "compiling c/nar_client.c failed");
    println!("cargo:rustc-env=NAR_C_CLIENT={}", exe.display());
    println!("cargo:rerun-if-changed=c/nar_client.c");
    println!("cargo:rerun-if-changed=../../platform/nar/include/nar_library_ffi.h");
}
