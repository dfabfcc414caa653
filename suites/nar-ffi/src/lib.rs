//! The NAR as the game client sees it: `libmve_nar.so` opened with libloading, every call made
//! through the exported C functions. Only the C types' layout comes from `mve_nar::abi` (the same
//! definitions cbindgen turns into the header); no Rust API of the library is called.
//!
//! - [`Nar`]: the loaded library and its functions, plus small helpers that build C arguments;
//! - [`memory`]: RSS sampling and the leak verdict; [`plot`]: the RSS series as an SVG;
//! - [`matrix`]: the narrative matrix as the client asks for it; [`checklist`]: its variety,
//!   accuracy, tone and form checks (rules in `narrative-checklist.toml`); [`report`]: sign-off.

pub mod checklist;
pub mod matrix;
pub mod memory;
pub mod plot;
pub mod report;

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::PathBuf;

use NarResultCode::*;
pub use mve_nar::abi::*;

type Fn0 = unsafe extern "C" fn() -> NarResultCode;

/// The exported functions, resolved once.
pub struct Nar {
    _lib: libloading::Library,
    pub path: PathBuf,
    pub init_default_config: unsafe extern "C" fn(*mut NarConfigC) -> NarResultCode,
    pub init_default_params: unsafe extern "C" fn(*mut GenerateParamsC) -> NarResultCode,
    pub init: unsafe extern "C" fn(*const NarConfigC) -> NarResultCode,
    pub generate: unsafe extern "C" fn(*const GenerateParamsC, *mut NarGeneratedTextC) -> NarResultCode,
    pub generate_streaming: unsafe extern "C" fn(*const GenerateParamsC, NarStreamingCallback, *mut c_void, *mut NarGeneratedTextC) -> NarResultCode,
    pub free: unsafe extern "C" fn(*mut NarGeneratedTextC) -> NarResultCode,
    pub status: unsafe extern "C" fn(*mut NarStatusReportC) -> NarResultCode,
    pub version: unsafe extern "C" fn(*mut u32, *mut u32, *mut u32) -> NarResultCode,
    pub gpu: unsafe extern "C" fn(*mut bool) -> NarResultCode,
    pub describe: unsafe extern "C" fn(c_int) -> *const c_char,
    pub cancel: Fn0,
    pub validate: unsafe extern "C" fn(*const c_char, *mut bool, *mut c_char) -> NarResultCode,
    pub shutdown: Fn0,
}

/// The directory of the build this test binary belongs to (`target/<profile>`).
pub fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let deps = exe.parent().expect("deps dir");
    if deps.ends_with("deps") { deps.parent().expect("profile dir").to_path_buf() } else { deps.to_path_buf() }
}

/// The library under test: `NAR_LIBRARY` if set (another build of the same ABI), else the archive
/// run's prebuilt one ([`harness::prebuilt`]), else the `libmve_nar.so` built with this test binary. Cargo writes it to `deps/` whenever it builds
/// the crate, and copies it up to `target/<profile>/` only when the crate itself was asked for, so
/// `deps/` is the fresh one.
pub fn library_path() -> PathBuf {
    if let Some(p) = std::env::var_os("NAR_LIBRARY") {
        return PathBuf::from(p);
    }
    if let Some(p) = harness::prebuilt::file("libmve_nar.so").unwrap_or_else(|e| panic!("{e}")) {
        return p;
    }
    let fresh = build_dir().join("deps/libmve_nar.so");
    if fresh.is_file() { fresh } else { build_dir().join("libmve_nar.so") }
}

/// The model `scripts/setup` put in place (SHA-256 checked), or `NAR_MODEL`.
pub fn model_path() -> PathBuf {
    let path = std::env::var_os("NAR_MODEL").map(PathBuf::from).unwrap_or_else(|| harness::results::target_dir().join("models/SmolLM2-135M-Instruct.Q4_1.gguf"));
    assert!(path.is_file(), "model {} missing: run scripts/setup", path.display());
    path
}

/// The C client: the archive run's prebuilt one ([`harness::prebuilt`]), else the one build.rs
/// compiled (its path fixed at compile time, on the machine that built this).
pub fn c_client() -> PathBuf {
    harness::prebuilt::file("nar_client").unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| PathBuf::from(BUILT_C_CLIENT))
}

/// `(first_token_ms, total_ms)` of one `timing:` line of the C client's output (see its header).
pub fn timing(line: &str) -> Option<(f64, f64)> {
    let rest = line.strip_prefix("timing: ")?;
    let field = |name: &str| rest.split_whitespace().find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse::<f64>().ok());
    Some((field("first_token_ms")?, field("total_ms")?))
}

/// Where build.rs wrote the C client (`scripts/gate-archive` copies it from here).
pub const BUILT_C_CLIENT: &str = env!("NAR_C_CLIENT");

macro_rules! sym {
    ($lib:expr, $name:literal) => {
        // SAFETY: the symbol's type is the header's signature for that name.
        *unsafe { $lib.get($name) }.unwrap_or_else(|e| panic!("symbol {}: {e}", String::from_utf8_lossy($name)))
    };
}

impl Nar {
    pub fn load() -> Nar {
        // The library holds one engine per process. nextest runs each test in a process of its
        // own; `cargo test` runs them as threads of one, where they would share (and shut down)
        // each other's engine and fail at random. Say so instead (a bench loads it once).
        static LOADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let loads = LOADS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if loads > 1 && std::env::var("NEXTEST_EXECUTION_MODE").as_deref() != Ok("process-per-test") {
            panic!("the NAR suite needs a process per test (the library's engine is global): run it with `cargo nextest run -p nar-ffi`, not `cargo test`");
        }
        let path = library_path();
        // SAFETY: loading the library runs its initialisers, which is what the client does too.
        let lib = unsafe { libloading::Library::new(&path) }.unwrap_or_else(|e| panic!("loading {}: {e}", path.display()));
        Nar {
            path,
            init_default_config: sym!(lib, b"init_default_config_ffi"),
            init_default_params: sym!(lib, b"init_default_params_ffi"),
            init: sym!(lib, b"init_nar_engine_ffi"),
            generate: sym!(lib, b"generate_text_nar_ffi"),
            generate_streaming: sym!(lib, b"generate_text_streaming_nar_ffi"),
            free: sym!(lib, b"free_nar_generated_text_ffi"),
            status: sym!(lib, b"get_nar_status_ffi"),
            version: sym!(lib, b"get_nar_version_ffi"),
            gpu: sym!(lib, b"check_gpu_support_ffi"),
            describe: sym!(lib, b"get_nar_error_description_ffi"),
            cancel: sym!(lib, b"cancel_generation_ffi"),
            validate: sym!(lib, b"validate_model_file_ffi"),
            shutdown: sym!(lib, b"shutdown_nar_engine_ffi"),
            _lib: lib,
        }
    }

    /// The default configuration for `model`, on one thread: a NAR test then takes one core of two
    /// and leaves the other to the gate's container tests (on two threads, llama.cpp's spinning
    /// workers ran up to ten times slower beside them). The greedy texts are the same on one and
    /// two threads (the gate's matrix sample matched its signed-off texts on both, 2026-12-01).
    pub fn config(&self, model: &CStr) -> NarConfigC {
        let mut c = std::mem::MaybeUninit::<NarConfigC>::zeroed();
        // SAFETY: a valid out-pointer.
        self.assert_defaults(unsafe { (self.init_default_config)(c.as_mut_ptr()) }, "init_default_config_ffi");
        // SAFETY: filled by the call above.
        let mut c = unsafe { c.assume_init() };
        c.model_path = model.as_ptr();
        c.context_length = 1024;
        c.thread_count = 1;
        c
    }

    /// The defaults calls answer NAR_SUCCESS, or, after a shutdown, ENGINE_NOT_INITIALIZED having
    /// filled the struct all the same (nar-ffi.md; the crate docs of platform/nar).
    fn assert_defaults(&self, rc: NarResultCode, call: &str) {
        if rc == NAR_SUCCESS {
            return;
        }
        let (mut a, mut b, mut c) = (0, 0, 0);
        // SAFETY: valid out-pointers.
        let after_shutdown = unsafe { (self.version)(&mut a, &mut b, &mut c) } == NAR_ERROR_ENGINE_NOT_INITIALIZED;
        assert!(rc == NAR_ERROR_ENGINE_NOT_INITIALIZED && after_shutdown, "{call} answered {rc:?}");
    }

    /// Default parameters for a greedy (deterministic) request of `max_tokens`.
    pub fn params(&self, prompt: &CStr, max_tokens: u32) -> GenerateParamsC {
        let mut p = std::mem::MaybeUninit::<GenerateParamsC>::zeroed();
        // SAFETY: a valid out-pointer.
        self.assert_defaults(unsafe { (self.init_default_params)(p.as_mut_ptr()) }, "init_default_params_ffi");
        // SAFETY: filled by the call above.
        let mut p = unsafe { p.assume_init() };
        p.prompt = prompt.as_ptr();
        p.max_tokens = max_tokens;
        p.deterministic = true;
        p
    }

    /// Calls init with the default configuration for the setup's model, changed by `edit`.
    pub fn init_with(&self, edit: impl FnOnce(&mut NarConfigC)) -> NarResultCode {
        let model = cstring(&model_path().to_string_lossy());
        let mut config = self.config(&model);
        edit(&mut config);
        // SAFETY: a valid config whose strings outlive the call (`edit`'s own strings too).
        unsafe { (self.init)(&config) }
    }

    /// Starts the engine on the setup's model with the default configuration.
    pub fn start(&self) {
        let rc = self.init_with(|_| {});
        assert_eq!(rc, NAR_SUCCESS, "init: {}", self.last_error());
    }

    /// Generates and hands the library's result to the caller, who must free it (tests of `free`).
    /// `Err` is the code and the last error; a failure must leave nothing allocated.
    pub fn generate_owned(&self, params: &GenerateParamsC) -> Result<NarGeneratedTextC, (NarResultCode, String)> {
        let mut out = std::mem::MaybeUninit::<NarGeneratedTextC>::zeroed();
        // SAFETY: valid params and out-pointer.
        let rc = unsafe { (self.generate)(params, out.as_mut_ptr()) };
        // SAFETY: the library writes `out` (zeroed on failure).
        let out = unsafe { out.assume_init() };
        if rc != NAR_SUCCESS {
            assert!(out.text.is_null(), "a failed generation left text allocated");
            return Err((rc, self.last_error()));
        }
        assert!(!out.text.is_null(), "a successful generation has text");
        Ok(out)
    }

    /// Generates, copies the result out, frees it. `Err` is the code and the last error.
    pub fn generate_text(&self, params: &GenerateParamsC) -> Result<Generated, (NarResultCode, String)> {
        let mut out = self.generate_owned(params)?;
        let generated = Generated::copy(&out);
        // SAFETY: a result of the library.
        assert_eq!(unsafe { (self.free)(&mut out) }, NAR_SUCCESS);
        Ok(generated)
    }

    /// The status report, checking its code: `ENGINE_NOT_INITIALIZED` exactly when the report says
    /// there is no engine (UNINITIALIZED or ERROR), `NAR_SUCCESS` otherwise.
    pub fn status_report(&self) -> NarStatusReportC {
        let mut r = std::mem::MaybeUninit::<NarStatusReportC>::zeroed();
        // SAFETY: a valid out-pointer.
        let rc = unsafe { (self.status)(r.as_mut_ptr()) };
        // SAFETY: filled by the call, whatever its code.
        let r = unsafe { r.assume_init() };
        let engineless = matches!(r.status, NarEngineStatus::NAR_STATUS_UNINITIALIZED | NarEngineStatus::NAR_STATUS_ERROR);
        let want = if engineless { NarResultCode::NAR_ERROR_ENGINE_NOT_INITIALIZED } else { NarResultCode::NAR_SUCCESS };
        assert_eq!(rc, want, "status code for state {:?}", r.status);
        r
    }

    /// The message of the last failure, from the status report.
    pub fn last_error(&self) -> String {
        let r = self.status_report();
        // SAFETY: a NUL-terminated array inside the report.
        unsafe { CStr::from_ptr(r.last_error.as_ptr()) }.to_string_lossy().into_owned()
    }

    pub fn description(&self, code: c_int) -> String {
        // SAFETY: any integer is allowed; the answer is a static string.
        let p = unsafe { (self.describe)(code) };
        assert!(!p.is_null(), "a description is never NULL");
        // SAFETY: non-NULL static string.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// A result copied out of the library's memory. Equality ignores the timing.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Generated {
    pub text: String,
    pub token_count: u32,
    pub prompt_token_count: u32,
    pub stop_reason: u32,
    pub content_filtered: bool,
    pub stop_sequence_matched: Option<String>,
    /// Whether the text was valid UTF-8 as it came over the boundary.
    pub valid_utf8: bool,
    #[serde(skip)]
    pub seconds: f64,
}

impl PartialEq for Generated {
    fn eq(&self, o: &Generated) -> bool {
        (&self.text, self.token_count, self.prompt_token_count, self.stop_reason, self.content_filtered, &self.stop_sequence_matched, self.valid_utf8)
            == (&o.text, o.token_count, o.prompt_token_count, o.stop_reason, o.content_filtered, &o.stop_sequence_matched, o.valid_utf8)
    }
}

impl Generated {
    pub fn copy(out: &NarGeneratedTextC) -> Generated {
        assert!(!out.text.is_null(), "a successful generation has text");
        // SAFETY: NUL-terminated strings owned by the result.
        let bytes = unsafe { CStr::from_ptr(out.text) }.to_bytes();
        let matched = (!out.stop_sequence_matched.is_null()).then(|| unsafe { CStr::from_ptr(out.stop_sequence_matched) }.to_string_lossy().into_owned());
        Generated {
            valid_utf8: std::str::from_utf8(bytes).is_ok(),
            text: String::from_utf8_lossy(bytes).into_owned(),
            token_count: out.token_count,
            prompt_token_count: out.prompt_token_count,
            stop_reason: out.stop_reason,
            content_filtered: out.content_filtered,
            stop_sequence_matched: matched,
            seconds: out.generation_time_seconds,
        }
    }
}

pub fn cstring(s: &str) -> CString {
    CString::new(s).expect("no NUL")
}
