//! The NAR's generated header (`platform/nar/include/nar_library_ffi.h`, cbindgen's view of the
//! code) against the platform's own header, kept by hand in
//! `platform/nar/include/reference/nar_library_ffi-0.1.0.h`.

use std::path::Path;

/// The generated header against the platform's, as kept by hand in
/// `include/reference/nar_library_ffi-0.1.0.h`: a test that compares the header with one generated
/// from the same code cannot see the code drift from the platform's ABI; this one can. Both headers
/// are compiled by the C compiler: every limit, code and state value, every struct's size and every
/// field's offset and size must print the same; every field must have the reference's type, and
/// every reference prototype and the callback typedef must redeclare the generated ones without a
/// conflict (C rejects a prototype that differs).
#[test]
fn the_generated_header_has_the_platforms_abi() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../platform/nar");
    let reference_path = dir.join("include/reference/nar_library_ffi-0.1.0.h");
    let reference = std::fs::read_to_string(&reference_path).expect("reference header");
    let abi = Abi::parse(&reference);
    assert!(abi.values.len() >= 12 + 14 + 6 && abi.fields.len() >= 50 && abi.prototypes.len() == 14, "parsed too little: {abi:?}");

    let mut show = String::new();
    for v in &abi.values {
        show += &format!("  SHOW({v});\n");
    }
    for s in &abi.structs {
        show += &format!("  SHOW(sizeof({s}));\n  SHOW(_Alignof({s}));\n");
    }
    for (s, _, name, _) in &abi.fields {
        show += &format!("  SHOW(offsetof({s}, {name}));\n  SHOW(sizeof((({s} *)0)->{name}));\n");
    }
    show += "  SHOW(sizeof(NarResultCode));\n  SHOW(sizeof(NarEngineStatus));\n";
    let program = |header: &Path, checks: &str| {
        format!("#include <stdio.h>\n#include \"{}\"\n{checks}\n#define SHOW(e) printf(\"%s = %lld\\n\", #e, (long long)(e))\nint main(void) {{\n{show}  return 0;\n}}\n", header.display())
    };
    // Against the generated header only: the reference's types and prototypes must fit it.
    let mut checks = String::new();
    for (s, ty, name, array) in &abi.fields {
        let want = match array {
            Some(n) => format!("{ty}[{n}]"),
            None => ty.clone(),
        };
        checks += &format!("_Static_assert(__builtin_types_compatible_p(__typeof__((({s} *)0)->{name}), {want}), \"{s}.{name} is not {want} as in the reference\");\n");
    }
    for p in &abi.prototypes {
        checks += p;
        checks += "\n";
    }
    let out = std::env::temp_dir().join(format!("nar-abi-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("temp dir");
    let run = |name: &str, source: String| -> String {
        let c = out.join(format!("{name}.c"));
        let exe = out.join(name);
        std::fs::write(&c, &source).expect("write C");
        let compiled = std::process::Command::new("cc").args(["-std=gnu11", "-Wall", "-Werror", "-o"]).arg(&exe).arg(&c).output().expect("run cc");
        assert!(compiled.status.success(), "{name}: the C compiler refused it:\n{}", String::from_utf8_lossy(&compiled.stderr));
        let ran = std::process::Command::new(&exe).output().expect("run the program");
        String::from_utf8(ran.stdout).expect("UTF-8")
    };
    let want = run("reference", program(&reference_path, ""));
    let got = run("generated", program(&dir.join("include/nar_library_ffi.h"), &checks));
    let differences: Vec<String> = want.lines().zip(got.lines()).filter(|(w, g)| w != g).map(|(w, g)| format!("reference {w}, generated {g}")).collect();
    assert!(differences.is_empty() && want.lines().count() == got.lines().count(), "ABI differs from nar_library_ffi.h 0.1.0:\n{}", differences.join("\n"));
    let _ = std::fs::remove_dir_all(&out);
}

/// What the reference header fixes, read from its text (one declaration per line, as it is kept).
#[derive(Debug, Default)]
struct Abi {
    /// Macro and enumerator names.
    values: Vec<String>,
    structs: Vec<String>,
    /// (struct, field type, field name, array length).
    fields: Vec<(String, String, String, Option<String>)>,
    /// Prototypes and the callback typedef, verbatim.
    prototypes: Vec<String>,
}

impl Abi {
    fn parse(text: &str) -> Abi {
        let mut abi = Abi::default();
        let mut in_struct: Option<Vec<(String, String, Option<String>)>> = None;
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("#define NAR_") {
                if rest.contains(' ') {
                    abi.values.push(format!("NAR_{}", rest.split_whitespace().next().unwrap_or_default()));
                }
            } else if line.starts_with("NAR_") && line.contains('=') {
                abi.values.push(line.split('=').next().unwrap_or_default().trim().to_string());
            } else if line.starts_with("typedef struct") && line.ends_with('{') {
                in_struct = Some(Vec::new());
            } else if let (Some(fields), Some(name)) = (in_struct.as_mut(), line.strip_prefix("} ").and_then(|l| l.strip_suffix(';'))) {
                for (ty, field, array) in fields.drain(..) {
                    abi.fields.push((name.to_string(), ty, field, array));
                }
                abi.structs.push(name.to_string());
                in_struct = None;
            } else if let Some(fields) = in_struct.as_mut() {
                let decl = line.trim_end_matches(';');
                let (decl, array) = match decl.split_once('[') {
                    Some((d, n)) => (d, Some(n.trim_end_matches(']').to_string())),
                    None => (decl, None),
                };
                let at = decl.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
                fields.push((decl[..at].trim().to_string(), decl[at..].to_string(), array));
            } else if (line.starts_with("enum NarResultCode ") || line.starts_with("const char *get_") || line.starts_with("typedef void (*")) && line.ends_with(");") {
                abi.prototypes.push(line.to_string());
            }
        }
        abi
    }
}
