//! Misuse through the C ABI: each case returns its documented code, leaves a message, changes
//! nothing, and never crashes the process (each test is its own process under nextest, so a crash
//! fails exactly that test).

use std::ffi::{CStr, c_char};
use std::ptr::{null, null_mut};

use NarResultCode::*;
use nar_ffi::*;

fn assert_failed_cleanly(nar: &Nar, rc: NarResultCode, want: NarResultCode, mentions: &str) {
    assert_eq!(rc, want, "last error: {}", nar.last_error());
    let msg = nar.last_error();
    assert!(msg.contains(mentions), "the message names the problem ({mentions:?}): {msg:?}");
}

/// A generation still works and the counters moved by exactly it: the misuse changed nothing.
fn assert_engine_intact(nar: &Nar, generations_before: u64) {
    assert_eq!(nar.status_report().total_generations, generations_before, "a refused call was counted");
    let prompt = cstring("Say hello.");
    nar.generate_text(&nar.params(&prompt, 4)).expect("the engine still generates");
}

// ---- init ----

#[test]
fn init_with_a_null_config_is_invalid_params() {
    let nar = Nar::load();
    assert_failed_cleanly(&nar, unsafe { (nar.init)(null()) }, NAR_ERROR_INVALID_PARAMS, "config is NULL");
    assert_eq!(nar.status_report().status, NarEngineStatus::NAR_STATUS_UNINITIALIZED);
}

#[test]
fn init_with_a_null_model_path_is_invalid_params() {
    let nar = Nar::load();
    assert_failed_cleanly(&nar, nar.init_with(|c| c.model_path = null()), NAR_ERROR_INVALID_PARAMS, "model_path is NULL");
}

#[test]
fn init_with_an_invalid_utf8_model_path_is_invalid_utf8() {
    let nar = Nar::load();
    let bad = b"/tmp/\xff\xfe.gguf\0";
    let rc = nar.init_with(|c| c.model_path = bad.as_ptr().cast());
    assert_failed_cleanly(&nar, rc, NAR_ERROR_INVALID_UTF8, "not valid UTF-8");
}

#[test]
fn init_with_a_model_path_over_512_bytes_is_invalid_params() {
    let nar = Nar::load();
    let long = cstring(&format!("/{}", "a".repeat(NAR_MAX_MODEL_PATH)));
    assert_failed_cleanly(&nar, nar.init_with(|c| c.model_path = long.as_ptr()), NAR_ERROR_INVALID_PARAMS, "longer than 512");
    let exactly = cstring(&format!("/{}", "a".repeat(NAR_MAX_MODEL_PATH - 1)));
    assert_failed_cleanly(&nar, nar.init_with(|c| c.model_path = exactly.as_ptr()), NAR_ERROR_MODEL_NOT_FOUND, "model file");
}

#[test]
fn init_with_a_missing_model_file_is_model_not_found() {
    let nar = Nar::load();
    let missing = cstring("/nonexistent/model.gguf");
    assert_failed_cleanly(&nar, nar.init_with(|c| c.model_path = missing.as_ptr()), NAR_ERROR_MODEL_NOT_FOUND, "/nonexistent/model.gguf");
    assert_eq!(nar.status_report().status, NarEngineStatus::NAR_STATUS_ERROR);
    // A failed init leaves no engine: the next init works.
    nar.start();
}

fn corrupt_file(name: &str, bytes: &[u8]) -> CStringPath {
    let dir = harness::results::target_dir().join("nar-ffi-tmp");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    CStringPath(cstring(&path.to_string_lossy()), path)
}

struct CStringPath(std::ffi::CString, std::path::PathBuf);
impl Drop for CStringPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.1);
    }
}

#[test]
fn init_with_a_file_that_is_not_gguf_is_model_load_failed() {
    let nar = Nar::load();
    let f = corrupt_file("random.gguf", &[0x5a; 4096]);
    assert_failed_cleanly(&nar, nar.init_with(|c| c.model_path = f.0.as_ptr()), NAR_ERROR_MODEL_LOAD_FAILED, "not a GGUF file");
}

#[test]
fn init_with_a_truncated_model_is_model_load_failed() {
    let nar = Nar::load();
    let real = std::fs::read(model_path()).unwrap();
    let f = corrupt_file("truncated.gguf", &real[..real.len() / 3]);
    assert_failed_cleanly(&nar, nar.init_with(|c| c.model_path = f.0.as_ptr()), NAR_ERROR_MODEL_LOAD_FAILED, "could not load");
    nar.start();
}

#[test]
fn init_with_out_of_range_settings_is_refused() {
    let nar = Nar::load();
    assert_failed_cleanly(&nar, nar.init_with(|c| c.context_length = 0), NAR_ERROR_INVALID_PARAMS, "context_length");
    assert_failed_cleanly(&nar, nar.init_with(|c| c.context_length = 16385), NAR_ERROR_INVALID_PARAMS, "context_length");
    assert_failed_cleanly(&nar, nar.init_with(|c| c.max_batch_size = 0), NAR_ERROR_INVALID_PARAMS, "max_batch_size");
    assert_failed_cleanly(&nar, nar.init_with(|c| c.default_temperature = f32::NAN), NAR_ERROR_INVALID_PARAMS, "default_temperature");
    assert_failed_cleanly(&nar, nar.init_with(|c| c.thread_count = 100_000), NAR_ERROR_THREAD_POOL_ERROR, "thread_count");
    assert_failed_cleanly(&nar, nar.init_with(|c| c.memory_limit_bytes = 1 << 20), NAR_ERROR_OUT_OF_MEMORY, "memory limit");
    let bad = b"\xc3\x28\0";
    assert_failed_cleanly(
        &nar,
        nar.init_with(|c| {
            c.debug_logging = true;
            c.log_file_path = bad.as_ptr().cast();
        }),
        NAR_ERROR_INVALID_UTF8,
        "log_file_path",
    );
}

/// State first, then input: a second init is refused for the state, whatever its config holds.
#[test]
fn a_second_init_with_a_bad_config_is_already_initialized() {
    let nar = Nar::load();
    nar.start();
    assert_failed_cleanly(&nar, nar.init_with(|c| c.model_path = null()), NAR_ERROR_ENGINE_ALREADY_INITIALIZED, "already initialised");
    assert_failed_cleanly(&nar, unsafe { (nar.init)(null()) }, NAR_ERROR_ENGINE_ALREADY_INITIALIZED, "already initialised");
    assert_failed_cleanly(&nar, nar.init_with(|c| c.context_length = 0), NAR_ERROR_ENGINE_ALREADY_INITIALIZED, "already initialised");
    assert_eq!(nar.status_report().status, NarEngineStatus::NAR_STATUS_READY);
    assert_engine_intact(&nar, 0);
}

#[test]
fn double_init_is_already_initialized_and_keeps_the_first_engine() {
    let nar = Nar::load();
    nar.start();
    assert_failed_cleanly(&nar, nar.init_with(|_| {}), NAR_ERROR_ENGINE_ALREADY_INITIALIZED, "already initialised");
    assert_eq!(nar.status_report().status, NarEngineStatus::NAR_STATUS_READY);
    assert_engine_intact(&nar, 0);
}

// ---- generate ----

#[test]
fn generate_before_init_is_engine_not_initialized() {
    let nar = Nar::load();
    let prompt = cstring("Hello.");
    let err = nar.generate_text(&nar.params(&prompt, 4)).unwrap_err();
    assert_eq!(err.0, NAR_ERROR_ENGINE_NOT_INITIALIZED, "{}", err.1);
    assert_eq!(unsafe { (nar.cancel)() }, NAR_ERROR_ENGINE_NOT_INITIALIZED);
    assert_calls_without_an_engine(&nar);
}

#[test]
fn generate_with_null_params_or_out_is_invalid_params() {
    let nar = Nar::load();
    nar.start();
    let mut out = std::mem::MaybeUninit::<NarGeneratedTextC>::zeroed();
    assert_failed_cleanly(&nar, unsafe { (nar.generate)(null(), out.as_mut_ptr()) }, NAR_ERROR_INVALID_PARAMS, "params is NULL");
    let prompt = cstring("Hello.");
    let p = nar.params(&prompt, 4);
    assert_failed_cleanly(&nar, unsafe { (nar.generate)(&p, null_mut()) }, NAR_ERROR_INVALID_PARAMS, "out is NULL");
    assert_engine_intact(&nar, 0);
}

fn refused(nar: &Nar, p: &GenerateParamsC, want: NarResultCode, mentions: &str) {
    let err = nar.generate_text(p).unwrap_err();
    assert_eq!(err.0, want, "{}", err.1);
    assert!(err.1.contains(mentions), "message names {mentions:?}: {}", err.1);
}

#[test]
fn a_null_prompt_is_invalid_params() {
    let nar = Nar::load();
    nar.start();
    let prompt = cstring("x");
    let mut p = nar.params(&prompt, 4);
    p.prompt = null();
    refused(&nar, &p, NAR_ERROR_INVALID_PARAMS, "prompt is NULL");
    assert_engine_intact(&nar, 0);
}

#[test]
fn invalid_utf8_in_prompt_context_or_stop_sequence_is_invalid_utf8() {
    let nar = Nar::load();
    nar.start();
    let ok = cstring("Hello.");
    for bad in [&b"\xff\0"[..], b"abc\xc3\0", b"\xed\xa0\x80\0", b"\xc0\xaf\0"] {
        let mut p = nar.params(&ok, 4);
        p.prompt = bad.as_ptr().cast();
        refused(&nar, &p, NAR_ERROR_INVALID_UTF8, "prompt");
        let mut p = nar.params(&ok, 4);
        p.context = bad.as_ptr().cast();
        refused(&nar, &p, NAR_ERROR_INVALID_UTF8, "context");
        let mut p = nar.params(&ok, 4);
        p.stop_sequences[0] = bad.as_ptr().cast();
        p.stop_sequence_count = 1;
        refused(&nar, &p, NAR_ERROR_INVALID_UTF8, "stop_sequences[0]");
    }
    assert_engine_intact(&nar, 0);
}

#[test]
fn a_prompt_or_context_over_the_limit_is_invalid_params() {
    let nar = Nar::load();
    nar.start();
    let long_prompt = cstring(&"a".repeat(NAR_MAX_PROMPT + 1));
    refused(&nar, &nar.params(&long_prompt, 4), NAR_ERROR_INVALID_PARAMS, "longer than 8192");
    let ok = cstring("Hello.");
    let long_context = cstring(&"b".repeat(NAR_MAX_CONTEXT + 1));
    let mut p = nar.params(&ok, 4);
    p.context = long_context.as_ptr();
    refused(&nar, &p, NAR_ERROR_INVALID_PARAMS, "longer than 16384");
    assert_engine_intact(&nar, 0);
}

#[test]
fn a_prompt_within_the_byte_limit_but_over_the_context_is_context_too_long() {
    let nar = Nar::load();
    let rc = nar.init_with(|c| {
        c.context_length = 256;
        c.max_batch_size = 256;
    });
    assert_eq!(rc, NAR_SUCCESS, "{}", nar.last_error());
    let prompt = cstring(&"robot ".repeat(1000));
    refused(&nar, &nar.params(&prompt, 8), NAR_ERROR_CONTEXT_TOO_LONG, "exceed the context of 256");
    let short = cstring("Hi.");
    refused(&nar, &nar.params(&short, 250), NAR_ERROR_CONTEXT_TOO_LONG, "250 max tokens");
    assert_engine_intact(&nar, 0);
}

#[test]
fn bad_sampling_values_and_stop_sequences_are_invalid_params() {
    let nar = Nar::load();
    nar.start();
    let ok = cstring("Hello.");
    type Spoil = Box<dyn Fn(&mut GenerateParamsC)>;
    let cases: Vec<(Spoil, &str)> = vec![
        (Box::new(|p| p.temperature = f32::NAN), "temperature"),
        (Box::new(|p| p.temperature = -1.0), "temperature"),
        (Box::new(|p| p.top_p = 1.5), "top_p"),
        (Box::new(|p| p.repetition_penalty = 0.0), "repetition_penalty"),
        (Box::new(|p| p.min_p = f32::INFINITY), "min_p"),
        (Box::new(|p| p.mirostat_mode = 3), "mirostat_mode"),
        (Box::new(|p| p.stop_sequence_count = 9), "stop_sequence_count"),
        (Box::new(|p| p.stop_sequence_count = 1), "stop_sequences[0] is NULL"),
    ];
    for (edit, mentions) in cases {
        let mut p = nar.params(&ok, 4);
        edit(&mut p);
        refused(&nar, &p, NAR_ERROR_INVALID_PARAMS, mentions);
    }
    let empty = cstring("");
    let mut p = nar.params(&ok, 4);
    p.stop_sequences[0] = empty.as_ptr();
    p.stop_sequence_count = 1;
    refused(&nar, &p, NAR_ERROR_INVALID_PARAMS, "empty stop sequence");
    assert_engine_intact(&nar, 0);
}

#[test]
fn a_malformed_narrative_request_is_invalid_params() {
    let nar = Nar::load();
    nar.start();
    let ok = cstring("A door opens.");
    for (context, mentions) in [
        ("narrative=DANCE_PARTY;class=VANGUARD;affiliation=LOYAL", "unknown narrative context type"),
        ("narrative=WORLD_EVENT;class=WIZARD;affiliation=LOYAL", "unknown BunkerClass"),
        ("narrative=WORLD_EVENT;class=VANGUARD;affiliation=CHAOTIC", "unknown ClassAffiliation"),
        ("narrative=WORLD_EVENT;class=VANGUARD", "needs narrative=, class= and affiliation="),
    ] {
        let c = cstring(context);
        let mut p = nar.params(&ok, 4);
        p.context = c.as_ptr();
        refused(&nar, &p, NAR_ERROR_INVALID_PARAMS, mentions);
    }
    assert_engine_intact(&nar, 0);
}

#[test]
fn streaming_with_a_null_callback_is_invalid_params() {
    let nar = Nar::load();
    nar.start();
    let ok = cstring("Hello.");
    let p = nar.params(&ok, 4);
    let mut out = std::mem::MaybeUninit::<NarGeneratedTextC>::zeroed();
    let rc = unsafe { (nar.generate_streaming)(&p, None, null_mut(), out.as_mut_ptr()) };
    assert_failed_cleanly(&nar, rc, NAR_ERROR_INVALID_PARAMS, "callback is NULL");
    assert_engine_intact(&nar, 0);
}

// ---- free ----

#[test]
fn double_free_and_free_of_a_zeroed_struct_are_harmless_and_free_of_null_is_invalid_params() {
    let nar = Nar::load();
    nar.start();
    let prompt = cstring("Hello.");
    let p = nar.params(&prompt, 4);
    let mut out = nar.generate_owned(&p).expect("generates");
    assert_eq!(unsafe { (nar.free)(&mut out) }, NAR_SUCCESS);
    assert!(out.text.is_null() && out.stop_sequence_matched.is_null() && out.token_count == 0, "free resets the struct");
    assert_eq!(unsafe { (nar.free)(&mut out) }, NAR_SUCCESS, "second free of the reset struct");
    let mut zeroed: NarGeneratedTextC = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { (nar.free)(&mut zeroed) }, NAR_SUCCESS, "free of a zeroed struct");
    assert_failed_cleanly(&nar, unsafe { (nar.free)(null_mut()) }, NAR_ERROR_INVALID_PARAMS, "text is NULL");
}

// ---- shutdown ----

#[test]
fn shutdown_twice_and_use_after_shutdown_are_engine_not_initialized_and_init_works_again() {
    let nar = Nar::load();
    nar.start();
    assert_eq!(unsafe { (nar.shutdown)() }, NAR_SUCCESS);
    assert_failed_cleanly(&nar, unsafe { (nar.shutdown)() }, NAR_ERROR_ENGINE_NOT_INITIALIZED, "not initialised");
    let prompt = cstring("Hello.");
    assert_eq!(nar.generate_text(&nar.params(&prompt, 4)).unwrap_err().0, NAR_ERROR_ENGINE_NOT_INITIALIZED);
    assert_eq!(unsafe { (nar.cancel)() }, NAR_ERROR_ENGINE_NOT_INITIALIZED);
    let r = nar.status_report();
    assert_eq!(r.status, NarEngineStatus::NAR_STATUS_UNINITIALIZED);
    assert_eq!(unsafe { CStr::from_ptr(r.model_path) }.to_bytes(), b"", "no model after shutdown");
    assert_calls_without_an_engine(&nar);
    assert_calls_after_shutdown(&nar);
    nar.start();
    assert_engine_intact(&nar, 0);
    // An init clears "after shutdown": the defaults answer NAR_SUCCESS again.
    let mut config = std::mem::MaybeUninit::<NarConfigC>::zeroed();
    assert_eq!(unsafe { (nar.init_default_config)(config.as_mut_ptr()) }, NAR_SUCCESS, "init_default_config_ffi after a new init");
}

/// nar-ffi.md: "after [shutdown], calls other than init give ENGINE_NOT_INITIALIZED", all of them
/// (review S6): the defaults, the version and free too. They still do their work there (the crate
/// docs): a client that ignores the code loses nothing. The error description is a string.
fn assert_calls_after_shutdown(nar: &Nar) {
    let (mut a, mut b, mut c) = (9, 9, 9);
    assert_eq!(unsafe { (nar.version)(&mut a, &mut b, &mut c) }, NAR_ERROR_ENGINE_NOT_INITIALIZED, "version after shutdown");
    assert_eq!((a, b, c), (0, 1, 0), "the version is still written");
    assert_eq!(nar.description(NAR_ERROR_TIMEOUT as i32), "generation timed out");
    let mut config = std::mem::MaybeUninit::<NarConfigC>::zeroed();
    assert_eq!(unsafe { (nar.init_default_config)(config.as_mut_ptr()) }, NAR_ERROR_ENGINE_NOT_INITIALIZED, "init_default_config_ffi after shutdown");
    assert_eq!(unsafe { config.assume_init() }.context_length, 2048, "the defaults are still written");
    let mut params = std::mem::MaybeUninit::<GenerateParamsC>::zeroed();
    assert_eq!(unsafe { (nar.init_default_params)(params.as_mut_ptr()) }, NAR_ERROR_ENGINE_NOT_INITIALIZED, "init_default_params_ffi after shutdown");
    let mut zeroed: NarGeneratedTextC = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { (nar.free)(&mut zeroed) }, NAR_ERROR_ENGINE_NOT_INITIALIZED, "free after shutdown");
}

/// Without an engine, before the first init: calls other than init answer ENGINE_NOT_INITIALIZED,
/// but for the four a client needs to build its first init (the crate docs).
fn assert_calls_without_an_engine(nar: &Nar) {
    let mut report = std::mem::MaybeUninit::<NarStatusReportC>::zeroed();
    assert_eq!(unsafe { (nar.status)(report.as_mut_ptr()) }, NAR_ERROR_ENGINE_NOT_INITIALIZED, "status");
    assert_eq!(unsafe { report.assume_init() }.status, NarEngineStatus::NAR_STATUS_UNINITIALIZED, "status still fills the report");
    let mut gpu = true;
    assert_eq!(unsafe { (nar.gpu)(&mut gpu) }, NAR_ERROR_ENGINE_NOT_INITIALIZED, "check_gpu_support_ffi");
    assert!(!gpu, "the answer is still false");
    let (mut valid, mut msg) = (true, [0 as c_char; NAR_MAX_ERROR_MESSAGE]);
    let model = cstring(&model_path().to_string_lossy());
    assert_eq!(unsafe { (nar.validate)(model.as_ptr(), &mut valid, msg.as_mut_ptr()) }, NAR_ERROR_ENGINE_NOT_INITIALIZED, "validate_model_file_ffi");
    assert!(!valid);
    assert!(unsafe { CStr::from_ptr(msg.as_ptr()) }.to_string_lossy().contains("not initialised"));
    assert_eq!(unsafe { (nar.shutdown)() }, NAR_ERROR_ENGINE_NOT_INITIALIZED, "shutdown");
    assert_eq!(unsafe { (nar.cancel)() }, NAR_ERROR_ENGINE_NOT_INITIALIZED, "cancel");
    // The state before the arguments (review S7): NULL arguments without an engine are
    // ENGINE_NOT_INITIALIZED, and a result struct passed in is reset.
    let mut out: NarGeneratedTextC = unsafe { std::mem::zeroed() };
    out.token_count = 77;
    assert_eq!(unsafe { (nar.generate)(null(), &mut out) }, NAR_ERROR_ENGINE_NOT_INITIALIZED, "generate(NULL, out)");
    assert_eq!(out.token_count, 0, "the result struct is reset");
    out.token_count = 77;
    assert_eq!(unsafe { (nar.generate_streaming)(null(), None, null_mut(), &mut out) }, NAR_ERROR_ENGINE_NOT_INITIALIZED, "streaming(NULL, NULL callback)");
    assert_eq!(out.token_count, 0, "the streaming result struct is reset");
    assert_eq!(unsafe { (nar.validate)(null(), null_mut(), null_mut()) }, NAR_ERROR_ENGINE_NOT_INITIALIZED, "validate(NULL, NULL, NULL)");
    if !nar_was_shut_down(nar) {
        let (mut a, mut b, mut c) = (9, 9, 9);
        assert_eq!(unsafe { (nar.version)(&mut a, &mut b, &mut c) }, NAR_SUCCESS, "version");
        assert_eq!((a, b, c), (0, 1, 0));
        assert_eq!(nar.description(NAR_ERROR_TIMEOUT as i32), "generation timed out");
        let mut config = std::mem::MaybeUninit::<NarConfigC>::zeroed();
        assert_eq!(unsafe { (nar.init_default_config)(config.as_mut_ptr()) }, NAR_SUCCESS, "init_default_config_ffi");
        let mut params = std::mem::MaybeUninit::<GenerateParamsC>::zeroed();
        assert_eq!(unsafe { (nar.init_default_params)(params.as_mut_ptr()) }, NAR_SUCCESS, "init_default_params_ffi");
        let mut zeroed: NarGeneratedTextC = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { (nar.free)(&mut zeroed) }, NAR_SUCCESS, "free");
    }
}

/// Whether this process's engine has been shut down (the version call says so after it).
fn nar_was_shut_down(nar: &Nar) -> bool {
    let (mut a, mut b, mut c) = (0, 0, 0);
    (unsafe { (nar.version)(&mut a, &mut b, &mut c) }) == NAR_ERROR_ENGINE_NOT_INITIALIZED
}

/// A text generated before shutdown is the caller's: it can still be freed after.
#[test]
fn a_text_from_before_shutdown_is_freed_after_it() {
    let nar = Nar::load();
    nar.start();
    let prompt = cstring("Hello.");
    let p = nar.params(&prompt, 4);
    let mut out = nar.generate_owned(&p).expect("generates");
    assert_eq!(unsafe { (nar.shutdown)() }, NAR_SUCCESS);
    // After shutdown the code is ENGINE_NOT_INITIALIZED (nar-ffi.md), and the text is freed all the same.
    assert_eq!(unsafe { (nar.free)(&mut out) }, NAR_ERROR_ENGINE_NOT_INITIALIZED);
    assert!(out.text.is_null());
}

/// Status never waits for init: a thread polling it sees INITIALIZING while the model loads (with
/// the engine lock held across the load, it waited and then saw READY).
#[test]
fn status_answers_at_once_while_init_loads_the_model() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let nar = Arc::new(Nar::load());
    let stop = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let poller = {
        let (nar, stop) = (nar.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            let mut first = true;
            while !stop.load(Ordering::SeqCst) {
                seen.insert(nar.status_report().status as u32);
                if first {
                    started_tx.send(()).expect("main waits");
                    first = false;
                }
            }
            seen
        })
    };
    started_rx.recv().expect("poller started");
    nar.start();
    stop.store(true, Ordering::SeqCst);
    let seen = poller.join().expect("poller");
    assert!(seen.contains(&(NarEngineStatus::NAR_STATUS_INITIALIZING as u32)), "states seen while loading: {seen:?}");
}

/// Status never waits for shutdown: with a generation held in its streaming callback, shutdown
/// waits for it, and status reports SHUTTING_DOWN meanwhile; released, the generation is cancelled.
#[test]
fn status_reports_shutting_down_while_shutdown_waits_for_a_generation() {
    use std::sync::mpsc;
    let nar = std::sync::Arc::new(Nar::load());
    nar.start();
    struct Gate {
        entered: mpsc::Sender<()>,
        release: std::sync::Mutex<mpsc::Receiver<()>>,
        calls: u32,
    }
    extern "C" fn hold(_: *const c_char, _: u32, is_complete: bool, user: *mut std::ffi::c_void) {
        // SAFETY: `user` is the Gate below, alive for the generation.
        let gate = unsafe { &mut *(user as *mut Gate) };
        gate.calls += 1;
        if gate.calls == 1 && !is_complete {
            gate.entered.send(()).expect("main waits");
            gate.release.lock().expect("gate").recv().expect("released");
        }
    }
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let generation = {
        let nar = nar.clone();
        std::thread::spawn(move || {
            let mut gate = Gate { entered: entered_tx, release: std::sync::Mutex::new(release_rx), calls: 0 };
            let prompt = cstring("Tell a long story about a robot.");
            let p = nar.params(&prompt, 64);
            let mut out = std::mem::MaybeUninit::<NarGeneratedTextC>::zeroed();
            let rc = unsafe { (nar.generate_streaming)(&p, Some(hold), (&mut gate as *mut Gate).cast(), out.as_mut_ptr()) };
            let mut out = unsafe { out.assume_init() };
            unsafe { (nar.free)(&mut out) };
            rc
        })
    };
    entered_rx.recv().expect("the generation reached its first token");
    let shutdown = {
        let nar = nar.clone();
        std::thread::spawn(move || unsafe { (nar.shutdown)() })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if nar.status_report().status == NarEngineStatus::NAR_STATUS_SHUTTING_DOWN {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "status never reported SHUTTING_DOWN while shutdown waited");
        std::thread::yield_now();
    }
    release_tx.send(()).expect("generation waits");
    assert_eq!(generation.join().expect("generation"), NAR_ERROR_CANCELLED);
    assert_eq!(shutdown.join().expect("shutdown"), NAR_SUCCESS);
    assert_eq!(nar.status_report().status, NarEngineStatus::NAR_STATUS_UNINITIALIZED);
}

#[test]
fn shutdown_before_any_init_is_engine_not_initialized() {
    let nar = Nar::load();
    assert_eq!(unsafe { (nar.shutdown)() }, NAR_ERROR_ENGINE_NOT_INITIALIZED);
}

// ---- informational calls ----

#[test]
fn null_out_pointers_of_the_informational_calls_are_invalid_params() {
    let nar = Nar::load();
    nar.start();
    let (mut a, mut b) = (0u32, 0u32);
    assert_eq!(unsafe { (nar.version)(null_mut(), &mut a, &mut b) }, NAR_ERROR_INVALID_PARAMS);
    assert_eq!(unsafe { (nar.version)(&mut a, &mut b, null_mut()) }, NAR_ERROR_INVALID_PARAMS);
    assert_eq!(unsafe { (nar.gpu)(null_mut()) }, NAR_ERROR_INVALID_PARAMS);
    assert_eq!(unsafe { (nar.status)(null_mut()) }, NAR_ERROR_INVALID_PARAMS);
    assert_eq!(unsafe { (nar.init_default_config)(null_mut()) }, NAR_ERROR_INVALID_PARAMS);
    assert_eq!(unsafe { (nar.init_default_params)(null_mut()) }, NAR_ERROR_INVALID_PARAMS);
    let mut valid = true;
    let mut msg = [0 as c_char; NAR_MAX_ERROR_MESSAGE];
    let model = cstring(&model_path().to_string_lossy());
    assert_eq!(unsafe { (nar.validate)(null(), &mut valid, msg.as_mut_ptr()) }, NAR_ERROR_INVALID_PARAMS);
    assert!(!valid);
    assert_eq!(unsafe { (nar.validate)(model.as_ptr(), null_mut(), msg.as_mut_ptr()) }, NAR_ERROR_INVALID_PARAMS);
    assert_eq!(unsafe { (nar.validate)(model.as_ptr(), &mut valid, null_mut()) }, NAR_ERROR_INVALID_PARAMS);
}

#[test]
fn validate_model_file_tells_a_model_from_a_missing_or_corrupt_file() {
    let nar = Nar::load();
    nar.start();
    let check = |path: &CStr| {
        let mut valid = false;
        let mut msg = [1 as c_char; NAR_MAX_ERROR_MESSAGE];
        let rc = unsafe { (nar.validate)(path.as_ptr(), &mut valid, msg.as_mut_ptr()) };
        let text = unsafe { CStr::from_ptr(msg.as_ptr()) }.to_string_lossy().into_owned();
        (rc, valid, text)
    };
    let model = cstring(&model_path().to_string_lossy());
    assert_eq!(check(&model), (NAR_SUCCESS, true, String::new()));
    let missing = cstring("/nonexistent.gguf");
    let (rc, valid, text) = check(&missing);
    assert_eq!((rc, valid), (NAR_ERROR_MODEL_NOT_FOUND, false));
    assert!(text.contains("/nonexistent.gguf"), "{text}");
    let f = corrupt_file("zeros.gguf", &[0; 64]);
    let (rc, valid, text) = check(&f.0);
    assert_eq!((rc, valid), (NAR_SUCCESS, false), "examined, and not a model");
    assert!(text.contains("not a GGUF file"), "{text}");
    let long = cstring(&format!("/{}", "é".repeat(400)));
    let (rc, valid, text) = check(&long);
    assert_eq!((rc, valid), (NAR_ERROR_INVALID_PARAMS, false));
    assert!(text.len() < NAR_MAX_ERROR_MESSAGE && text.contains("longer than 512"), "{text}");
}
