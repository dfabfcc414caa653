//! The exported C functions. Each one validates every pointer and string before use, runs its
//! body under `catch_unwind` (a panic becomes `NAR_ERROR_UNKNOWN`, never an unwind into C), and
//! records the message of any failure for the status report.
// Their callers are C programs, for which `unsafe` means nothing; the pointers are checked here.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::abi::*;
use crate::engine::{self, CANCEL_EPOCH, Engine, Failure, Request, Settings};
use crate::narrative;
use NarResultCode::*;

static ENGINE: RwLock<Option<Arc<Engine>>> = RwLock::new(None);
static STATUS: AtomicU32 = AtomicU32::new(NarEngineStatus::NAR_STATUS_UNINITIALIZED as u32);
static LAST_ERROR: Mutex<String> = Mutex::new(String::new());
/// What the status report's pointers show when no engine is loaded.
static EMPTY: &CStr = c"";
static VERSION: &CStr = c"0.1.0";

fn set_status(s: NarEngineStatus) {
    STATUS.store(s as u32, Ordering::SeqCst);
}

fn status() -> NarEngineStatus {
    use NarEngineStatus::*;
    match STATUS.load(Ordering::SeqCst) {
        1 => NAR_STATUS_INITIALIZING,
        2 => NAR_STATUS_READY,
        3 => NAR_STATUS_GENERATING,
        4 => NAR_STATUS_ERROR,
        5 => NAR_STATUS_SHUTTING_DOWN,
        _ => NAR_STATUS_UNINITIALIZED,
    }
}

fn remember(message: &str) {
    let mut last = LAST_ERROR.lock().unwrap_or_else(|p| p.into_inner());
    last.clear();
    last.push_str(message);
}

/// Runs `body`, turning a failure into its code (remembering the message) and a panic into UNKNOWN.
fn guarded(name: &str, body: impl FnOnce() -> Result<(), Failure>) -> NarResultCode {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => NAR_SUCCESS,
        Ok(Err(f)) => {
            remember(&format!("{name}: {}", f.message));
            f.code
        }
        Err(panic) => {
            let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
            remember(&format!("{name}: internal error: {}", what.unwrap_or_else(|| "panic".into())));
            NAR_ERROR_UNKNOWN
        }
    }
}

/// As [`guarded`], except that `ENGINE_NOT_INITIALIZED` is an answer rather than a failure: it leaves
/// `last_error` alone, so that a client can read the message of the failure it is asking about.
fn quiet_when_uninitialised(name: &str, body: impl FnOnce() -> Result<(), Failure>) -> NarResultCode {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Err(f)) if f.code == NAR_ERROR_ENGINE_NOT_INITIALIZED => f.code,
        other => guarded(name, move || match other {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
    }
}

fn invalid(message: impl Into<String>) -> Failure {
    Failure::new(NAR_ERROR_INVALID_PARAMS, message)
}

fn non_null<'a, T>(p: *const T, what: &str) -> Result<&'a T, Failure> {
    // SAFETY: non-NULL pointers from the caller point at a valid T (the ABI's contract).
    unsafe { p.as_ref() }.ok_or_else(|| invalid(format!("{what} is NULL")))
}

fn non_null_mut<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: as above, and the caller does not share it during the call.
    unsafe { p.as_mut() }.ok_or_else(|| invalid(format!("{what} is NULL")))
}

/// A C string: NULL, invalid UTF-8 and over-long strings are errors. The length is checked while
/// scanning, so an unterminated buffer is read at most `max + 1` bytes far.
fn string(p: *const c_char, what: &str, max: usize) -> Result<String, Failure> {
    if p.is_null() {
        return Err(invalid(format!("{what} is NULL")));
    }
    let mut len = 0usize;
    // SAFETY: the caller passes a NUL-terminated string; we stop at the NUL or one past `max`.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
        if len > max {
            return Err(invalid(format!("{what} is longer than {max} bytes")));
        }
    }
    // SAFETY: `len` bytes were just read.
    let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) };
    std::str::from_utf8(bytes).map(str::to_string).map_err(|e| Failure::new(NAR_ERROR_INVALID_UTF8, format!("{what} is not valid UTF-8 (byte {})", e.valid_up_to())))
}

fn optional_string(p: *const c_char, what: &str, max: usize) -> Result<Option<String>, Failure> {
    if p.is_null() { Ok(None) } else { string(p, what, max).map(Some) }
}

fn current() -> Result<Arc<Engine>, Failure> {
    ENGINE.read().unwrap_or_else(|p| p.into_inner()).clone().ok_or_else(|| Failure::new(NAR_ERROR_ENGINE_NOT_INITIALIZED, "the engine is not initialised"))
}

/// nar-ffi.md: without an engine (before the first init, or after shutdown), calls other
/// than init answer `ENGINE_NOT_INITIALIZED`. The state is checked before any argument.
fn require_engine() -> Result<(), Failure> {
    current().map(drop)
}

/// Set by a shutdown that finished, cleared by an init that did: nar-ffi.md's "after it".
static SHUT_DOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// nar-ffi.md: "after [shutdown], calls other than init give ENGINE_NOT_INITIALIZED". The calls a
/// client needs without an engine (defaults, version, free) still do their work there, so that a
/// client that ignores their code loses nothing, but answer that code (see the crate docs).
fn not_after_shutdown(call: &str) -> Result<(), Failure> {
    if SHUT_DOWN.load(Ordering::SeqCst) {
        return Err(Failure::new(NAR_ERROR_ENGINE_NOT_INITIALIZED, format!("the engine was shut down ({call} did its work, and answers so as the spec says); init it again")));
    }
    Ok(())
}

fn finite(v: f32, what: &str, range: std::ops::RangeInclusive<f32>) -> Result<f32, Failure> {
    if v.is_finite() && range.contains(&v) { Ok(v) } else { Err(invalid(format!("{what} = {v} is outside {range:?}"))) }
}

/// Fills `config` with the defaults (model path NULL: the caller names the model).
#[unsafe(no_mangle)]
pub extern "C" fn init_default_config_ffi(config: *mut NarConfigC) -> NarResultCode {
    guarded("init_default_config_ffi", || {
        *non_null_mut(config, "config")? = NarConfigC {
            model_path: std::ptr::null(),
            context_length: 2048,
            max_batch_size: 512,
            use_gpu: false,
            thread_count: 0,
            use_thread_pool: true,
            memory_limit_bytes: 0,
            use_memory_mapping: true,
            default_temperature: 0.7,
            default_max_tokens: 128,
            default_top_p: 0.9,
            default_top_k: 40,
            enable_content_filtering: false,
            enable_utf8_validation: true,
            timeout_seconds: 60,
            debug_logging: false,
            log_file_path: std::ptr::null(),
        };
        not_after_shutdown("init_default_config_ffi")
    })
}

/// Fills `params` with the defaults (prompt NULL: the caller sets it; 0 and NaN-free values mean
/// "the engine's default" where documented).
#[unsafe(no_mangle)]
pub extern "C" fn init_default_params_ffi(params: *mut GenerateParamsC) -> NarResultCode {
    guarded("init_default_params_ffi", || {
        *non_null_mut(params, "params")? = GenerateParamsC {
            prompt: std::ptr::null(),
            context: std::ptr::null(),
            max_tokens: 0,
            temperature: 0.7,
            top_p: 0.9,
            top_k: 40,
            repetition_penalty: 1.0,
            stop_sequences: [std::ptr::null(); NAR_MAX_STOP_SEQUENCES],
            stop_sequence_count: 0,
            enable_content_filter: false,
            enable_profanity_filter: false,
            seed: 0,
            deterministic: false,
            timeout_seconds: 0,
            min_p: 0.0,
            typical_p: 1.0,
            mirostat_mode: 0,
            mirostat_tau: 5.0,
            mirostat_eta: 0.1,
        };
        not_after_shutdown("init_default_params_ffi")
    })
}

fn settings(c: &NarConfigC) -> Result<Settings, Failure> {
    let model_path = string(c.model_path, "config.model_path", NAR_MAX_MODEL_PATH)?;
    if c.context_length == 0 || c.context_length as usize > NAR_MAX_CONTEXT {
        return Err(invalid(format!("config.context_length = {} is outside 1..={NAR_MAX_CONTEXT}", c.context_length)));
    }
    if c.max_batch_size == 0 || c.max_batch_size > c.context_length {
        return Err(invalid(format!("config.max_batch_size = {} is outside 1..=context_length", c.max_batch_size)));
    }
    let threads = match (c.use_thread_pool, c.thread_count) {
        (false, _) => 1,
        (true, n) if n > 256 => return Err(Failure::new(NAR_ERROR_THREAD_POOL_ERROR, format!("config.thread_count = {n} is over 256"))),
        (true, n) => n,
    };
    Ok(Settings {
        model_path,
        context_length: c.context_length,
        max_batch_size: c.max_batch_size,
        threads,
        memory_limit_bytes: c.memory_limit_bytes,
        use_mmap: c.use_memory_mapping,
        temperature: finite(c.default_temperature, "config.default_temperature", 0.0..=2.0)?,
        max_tokens: if c.default_max_tokens == 0 { 128 } else { c.default_max_tokens },
        top_p: finite(c.default_top_p, "config.default_top_p", 0.0..=1.0)?,
        top_k: c.default_top_k,
        content_filtering: c.enable_content_filtering,
        timeout: (c.timeout_seconds > 0).then(|| Duration::from_secs(u64::from(c.timeout_seconds))),
        debug_logging: c.debug_logging,
        log_file: optional_string(c.log_file_path, "config.log_file_path", NAR_MAX_MODEL_PATH)?,
    })
}

/// Loads the model. Not thread-safe; once until `shutdown_nar_engine_ffi`.
///
/// The state is claimed first (UNINITIALIZED or ERROR to INITIALIZING), so a second init answers
/// `ENGINE_ALREADY_INITIALIZED` whatever its config holds; the model loads without holding the
/// engine lock, so status answers at once from any thread while it loads.
#[unsafe(no_mangle)]
pub extern "C" fn init_nar_engine_ffi(config: *const NarConfigC) -> NarResultCode {
    guarded("init_nar_engine_ffi", || {
        let before = claim(&[NarEngineStatus::NAR_STATUS_UNINITIALIZED, NarEngineStatus::NAR_STATUS_ERROR], NarEngineStatus::NAR_STATUS_INITIALIZING)
            .map_err(|_| Failure::new(NAR_ERROR_ENGINE_ALREADY_INITIALIZED, "the engine is already initialised; shut it down first"))?;
        let settings = match non_null(config, "config").and_then(settings) {
            Ok(s) => s,
            Err(f) => {
                // Bad input changes nothing: the state is what it was.
                set_status(before);
                return Err(f);
            }
        };
        match Engine::load(settings) {
            Ok(engine) => {
                *ENGINE.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(engine));
                SHUT_DOWN.store(false, Ordering::SeqCst);
                set_status(NarEngineStatus::NAR_STATUS_READY);
                Ok(())
            }
            Err(f) => {
                set_status(NarEngineStatus::NAR_STATUS_ERROR);
                Err(f)
            }
        }
    })
}

/// Moves the state from one of `from` to `to` atomically; returns the state it left, or the state
/// that refused the move.
fn claim(from: &[NarEngineStatus], to: NarEngineStatus) -> Result<NarEngineStatus, NarEngineStatus> {
    for &f in from {
        if STATUS.compare_exchange(f as u32, to as u32, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            return Ok(f);
        }
    }
    Err(status())
}

fn request(engine: &Engine, p: &GenerateParamsC) -> Result<Request, Failure> {
    let prompt = string(p.prompt, "params.prompt", NAR_MAX_PROMPT)?;
    let context = optional_string(p.context, "params.context", NAR_MAX_CONTEXT)?;
    let narrative = match context.as_deref() {
        Some(c) => narrative::parse(c).map_err(invalid)?,
        None => None,
    };
    if p.stop_sequence_count as usize > NAR_MAX_STOP_SEQUENCES {
        return Err(invalid(format!("params.stop_sequence_count = {} is over {NAR_MAX_STOP_SEQUENCES}", p.stop_sequence_count)));
    }
    let stops = (0..p.stop_sequence_count as usize).map(|i| string(p.stop_sequences[i], &format!("params.stop_sequences[{i}]"), 256)).collect::<Result<Vec<_>, _>>()?;
    if stops.iter().any(String::is_empty) {
        return Err(invalid("an empty stop sequence would stop at once"));
    }
    if p.mirostat_mode > 2 {
        return Err(invalid(format!("params.mirostat_mode = {} is not 0, 1 or 2", p.mirostat_mode)));
    }
    let s = &engine.settings;
    let background = if narrative.is_none() { context.as_deref() } else { None };
    Ok(Request {
        prompt: narrative::prompt(&prompt, narrative.as_ref(), background),
        max_tokens: if p.max_tokens == 0 { s.max_tokens } else { p.max_tokens },
        temperature: finite(p.temperature, "params.temperature", 0.0..=2.0)?,
        top_p: finite(p.top_p, "params.top_p", 0.0..=1.0)?,
        top_k: p.top_k,
        repetition_penalty: finite(p.repetition_penalty, "params.repetition_penalty", 0.01..=10.0)?,
        stops,
        filter: p.enable_content_filter || p.enable_profanity_filter || s.content_filtering,
        seed: p.seed,
        deterministic: p.deterministic,
        timeout: if p.timeout_seconds > 0 { Some(Duration::from_secs(u64::from(p.timeout_seconds))) } else { s.timeout },
        min_p: finite(p.min_p, "params.min_p", 0.0..=1.0)?,
        typical_p: finite(p.typical_p, "params.typical_p", 0.0..=1.0)?,
        mirostat: (p.mirostat_mode, finite(p.mirostat_tau, "params.mirostat_tau", 0.0..=100.0)?, finite(p.mirostat_eta, "params.mirostat_eta", 0.0..=10.0)?),
    })
}

const ZEROED: NarGeneratedTextC = NarGeneratedTextC {
    text: std::ptr::null_mut(),
    token_count: 0,
    prompt_token_count: 0,
    generation_time_seconds: 0.0,
    stop_reason: NAR_STOP_MAX_TOKENS,
    content_filtered: false,
    stop_sequence_matched: std::ptr::null_mut(),
};

/// One generation with the engine held: counts it as active while it runs.
fn run(params: *const GenerateParamsC, out: *mut NarGeneratedTextC, on_token: &mut dyn FnMut(&str, u32)) -> Result<String, Failure> {
    zero(out);
    // The state before the arguments (the crate docs): without an engine, NULL params are
    // ENGINE_NOT_INITIALIZED too.
    let engine = current()?;
    let out = non_null_mut(out, "out")?;
    let params = non_null(params, "params")?;
    let req = request(&engine, params)?;
    engine.active.fetch_add(1, Ordering::SeqCst);
    let result = catch_unwind(AssertUnwindSafe(|| engine.generate(&req, on_token)));
    engine.active.fetch_sub(1, Ordering::SeqCst);
    let o = match result {
        Ok(r) => r?,
        Err(p) => std::panic::resume_unwind(p),
    };
    *out = NarGeneratedTextC {
        text: engine::cstring(&o.text).into_raw(),
        token_count: o.tokens,
        prompt_token_count: o.prompt_tokens,
        generation_time_seconds: o.seconds,
        stop_reason: o.stop_reason,
        content_filtered: o.filtered,
        stop_sequence_matched: o.matched_stop.map_or(std::ptr::null_mut(), |s| engine::cstring(&s).into_raw()),
    };
    Ok(o.text)
}

/// A result struct the caller passed is reset before anything can fail, so that freeing it after
/// any error is safe (it held garbage after a streaming call refused for its NULL callback).
fn zero(out: *mut NarGeneratedTextC) {
    // SAFETY: a non-NULL pointer is the caller's result struct.
    if let Some(o) = unsafe { out.as_mut() } {
        *o = ZEROED;
    }
}

/// Generates text into `out` (overwritten; free it with `free_nar_generated_text_ffi`). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn generate_text_nar_ffi(params: *const GenerateParamsC, out: *mut NarGeneratedTextC) -> NarResultCode {
    guarded("generate_text_nar_ffi", || run(params, out, &mut |_, _| {}).map(drop))
}

/// As `generate_text_nar_ffi`, calling `callback` with the text so far after each token and once
/// more with the final text and `is_complete = true`. `partial_text` is valid during the call only.
#[unsafe(no_mangle)]
pub extern "C" fn generate_text_streaming_nar_ffi(params: *const GenerateParamsC, callback: NarStreamingCallback, user_data: *mut c_void, final_out: *mut NarGeneratedTextC) -> NarResultCode {
    guarded("generate_text_streaming_nar_ffi", || {
        zero(final_out);
        require_engine()?;
        let callback = callback.ok_or_else(|| invalid("callback is NULL"))?;
        let text = run(params, final_out, &mut |partial, tokens| {
            let c = engine::cstring(partial);
            // SAFETY: a C callback from the caller, given a string that lives through the call.
            unsafe { callback(c.as_ptr(), tokens, false, user_data) };
        })?;
        // SAFETY: `final_out` was checked and filled by `run`.
        let tokens = unsafe { (*final_out).token_count };
        let c = engine::cstring(&text);
        // SAFETY: as above.
        unsafe { callback(c.as_ptr(), tokens, true, user_data) };
        Ok(())
    })
}

/// Frees what a generation allocated and resets the struct; on a reset or zeroed struct, a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn free_nar_generated_text_ffi(text: *mut NarGeneratedTextC) -> NarResultCode {
    guarded("free_nar_generated_text_ffi", || {
        let t = non_null_mut(text, "text")?;
        for p in [t.text, t.stop_sequence_matched] {
            if !p.is_null() {
                // SAFETY: non-NULL pointers in a result were made by `CString::into_raw` above and
                // are reset to NULL right after, so each is freed once.
                drop(unsafe { CString::from_raw(p) });
            }
        }
        *t = ZEROED;
        not_after_shutdown("free_nar_generated_text_ffi")
    })
}

/// Thread-safe; no allocation; never waits for init, generation or shutdown. Without an engine
/// (UNINITIALIZED or ERROR) it still fills the report, with `last_error`, and answers
/// `ENGINE_NOT_INITIALIZED`; while the engine loads, runs or shuts down it answers `NAR_SUCCESS`.
#[unsafe(no_mangle)]
pub extern "C" fn get_nar_status_ffi(report: *mut NarStatusReportC) -> NarResultCode {
    quiet_when_uninitialised("get_nar_status_ffi", || {
        let report = non_null_mut(report, "report")?;
        // Writers hold the lock only to swap the pointer, never across a load or a wait.
        let engine = ENGINE.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut last_error = [0 as c_char; NAR_MAX_ERROR_MESSAGE];
        {
            let last = LAST_ERROR.lock().unwrap_or_else(|p| p.into_inner());
            let mut n = last.len().min(NAR_MAX_ERROR_MESSAGE - 1);
            while !last.is_char_boundary(n) {
                n -= 1;
            }
            for (d, s) in last_error.iter_mut().zip(&last.as_bytes()[..n]) {
                *d = *s as c_char;
            }
        }
        let mut r = NarStatusReportC {
            status: status(),
            model_path: EMPTY.as_ptr(),
            model_name: EMPTY.as_ptr(),
            version: VERSION.as_ptr(),
            total_generations: 0,
            total_tokens_generated: 0,
            active_generations: 0,
            average_tokens_per_second: 0.0,
            model_size_bytes: 0,
            last_error,
        };
        if let Some(e) = engine {
            // The strings live in the engine, which lives until shutdown.
            r.model_path = e.model_path.as_ptr();
            r.model_name = e.model_name.as_ptr();
            r.total_generations = e.generations.load(Ordering::Relaxed);
            r.total_tokens_generated = e.tokens.load(Ordering::Relaxed);
            r.active_generations = e.active.load(Ordering::SeqCst);
            let secs = e.micros.load(Ordering::Relaxed) as f64 / 1e6;
            r.average_tokens_per_second = if secs > 0.0 { r.total_tokens_generated as f64 / secs } else { 0.0 };
            r.model_size_bytes = e.model_size;
            if r.active_generations > 0 && r.status == NarEngineStatus::NAR_STATUS_READY {
                r.status = NarEngineStatus::NAR_STATUS_GENERATING;
            }
        }
        let state = r.status;
        *report = r;
        match state {
            NarEngineStatus::NAR_STATUS_UNINITIALIZED | NarEngineStatus::NAR_STATUS_ERROR => Err(Failure::new(NAR_ERROR_ENGINE_NOT_INITIALIZED, "the engine is not initialised")),
            _ => Ok(()),
        }
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn get_nar_version_ffi(major: *mut u32, minor: *mut u32, patch: *mut u32) -> NarResultCode {
    guarded("get_nar_version_ffi", || {
        let (a, b, c) = (non_null_mut(major, "major")?, non_null_mut(minor, "minor")?, non_null_mut(patch, "patch")?);
        (*a, *b, *c) = (NAR_VERSION_MAJOR, NAR_VERSION_MINOR, NAR_VERSION_PATCH);
        not_after_shutdown("get_nar_version_ffi")
    })
}

/// This build runs on the CPU only: always false (written also without an engine, where the
/// answer is `ENGINE_NOT_INITIALIZED`).
#[unsafe(no_mangle)]
pub extern "C" fn check_gpu_support_ffi(supported: *mut bool) -> NarResultCode {
    guarded("check_gpu_support_ffi", || {
        // SAFETY: a non-NULL pointer is the caller's bool.
        if let Some(s) = unsafe { supported.as_mut() } {
            *s = false;
        }
        require_engine()?;
        non_null_mut(supported, "supported")?;
        Ok(())
    })
}

/// A static description of any code; an unknown value gets the UNKNOWN text. Never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn get_nar_error_description_ffi(code: c_int) -> *const c_char {
    let text: &'static CStr = match code {
        0 => c"success",
        1 => c"invalid parameters: a NULL pointer, a value out of range or a malformed request",
        2 => c"model file not found",
        3 => c"model file could not be loaded (not GGUF, corrupt or unsupported)",
        4 => c"generation failed inside llama.cpp",
        5 => c"out of memory or over the configured memory limit",
        6 => c"prompt and max tokens exceed the context length",
        7 => c"the engine is not initialised",
        8 => c"the engine is already initialised",
        9 => c"thread pool error: invalid thread configuration",
        10 => c"generation timed out",
        11 => c"generation cancelled",
        12 => c"a string argument is not valid UTF-8",
        _ => c"unknown error",
    };
    text.as_ptr()
}

/// Ends every generation in progress with `CANCELLED` (best effort: they stop at their next token).
#[unsafe(no_mangle)]
pub extern "C" fn cancel_generation_ffi() -> NarResultCode {
    guarded("cancel_generation_ffi", || {
        current()?;
        CANCEL_EPOCH.fetch_add(1, Ordering::SeqCst);
        Ok(())
    })
}

/// Whether `path` is a GGUF file llama.cpp can take (magic and version; not a full load).
/// `error_message` (256 bytes) gets the reason when it is not. Returns `NAR_SUCCESS` when the file
/// could be examined, whatever the verdict.
#[unsafe(no_mangle)]
pub extern "C" fn validate_model_file_ffi(path: *const c_char, is_valid: *mut bool, error_message: *mut c_char) -> NarResultCode {
    guarded("validate_model_file_ffi", || {
        // SAFETY: a non-NULL pointer is the caller's bool.
        if let Some(v) = unsafe { is_valid.as_mut() } {
            *v = false;
        }
        let write = |msg: &str| {
            if error_message.is_null() {
                return;
            }
            let mut n = msg.len().min(NAR_MAX_ERROR_MESSAGE - 1);
            while !msg.is_char_boundary(n) {
                n -= 1;
            }
            // SAFETY: the caller's buffer holds NAR_MAX_ERROR_MESSAGE bytes; we write at most that.
            unsafe {
                std::ptr::copy_nonoverlapping(msg.as_ptr().cast::<c_char>(), error_message, n);
                *error_message.add(n) = 0;
            }
        };
        write("");
        // The state before the arguments, as everywhere (the crate docs).
        if let Err(f) = require_engine() {
            write(&f.message);
            return Err(f);
        }
        let valid = non_null_mut(is_valid, "is_valid")?;
        if error_message.is_null() {
            return Err(invalid("error_message is NULL"));
        }
        let path = match string(path, "path", NAR_MAX_MODEL_PATH) {
            Ok(p) => p,
            Err(f) => {
                write(&f.message);
                return Err(f);
            }
        };
        match engine::check_model_file(&path) {
            Ok(_) => *valid = true,
            Err(f) if f.code == NAR_ERROR_MODEL_NOT_FOUND => {
                write(&f.message);
                return Err(f);
            }
            Err(f) => write(&f.message),
        }
        Ok(())
    })
}

/// Cancels what runs, waits for it to finish (up to 30 s), and frees the model. Not thread-safe.
/// The state is SHUTTING_DOWN for the whole wait, and status reports it from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn shutdown_nar_engine_ffi() -> NarResultCode {
    guarded("shutdown_nar_engine_ffi", || {
        claim(&[NarEngineStatus::NAR_STATUS_READY], NarEngineStatus::NAR_STATUS_SHUTTING_DOWN).map_err(|state| match state {
            NarEngineStatus::NAR_STATUS_INITIALIZING => Failure::new(NAR_ERROR_ENGINE_NOT_INITIALIZED, "the engine is still initialising"),
            NarEngineStatus::NAR_STATUS_SHUTTING_DOWN => Failure::new(NAR_ERROR_ENGINE_NOT_INITIALIZED, "the engine is already shutting down"),
            _ => Failure::new(NAR_ERROR_ENGINE_NOT_INITIALIZED, "the engine is not initialised"),
        })?;
        let Some(engine) = ENGINE.write().unwrap_or_else(|p| p.into_inner()).take() else {
            set_status(NarEngineStatus::NAR_STATUS_UNINITIALIZED);
            return Err(Failure::new(NAR_ERROR_ENGINE_NOT_INITIALIZED, "the engine is not initialised"));
        };
        CANCEL_EPOCH.fetch_add(1, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(30);
        // Generations in flight hold their own reference; they end at their next token.
        while Arc::strong_count(&engine) > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        engine.log("shutting down");
        drop(engine);
        SHUT_DOWN.store(true, Ordering::SeqCst);
        set_status(NarEngineStatus::NAR_STATUS_UNINITIALIZED);
        Ok(())
    })
}
