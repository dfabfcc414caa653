//! The NAR (Narrative AI Runtime): the platform's C ABI (`nar_library_ffi.h` 0.1.0, see
//! docs/spec/nar-ffi.md) over llama.cpp through `llama-cpp-2`, built as a `cdylib` for the
//! game client and as an `rlib`. `include/nar_library_ffi.h` is generated from [`abi`] and [`ffi`]
//! by cbindgen; a test fails when it no longer matches.
//!
//! Choices where the spec is silent:
//! - **Narrative requests** travel in `GenerateParamsC.context` as
//!   `narrative=<CONTEXT_TYPE>;class=<BunkerClass>;affiliation=<ClassAffiliation>`; the prompt is
//!   the event ([`narrative`]). Other context text is background for the system message.
//! - **Without an engine** (before the first init, after a failed init, after shutdown: one state)
//!   calls other than init answer `ENGINE_NOT_INITIALIZED`, as the spec says for "after shutdown":
//!   generate, streaming, cancel, shutdown, `check_gpu_support_ffi` (it still writes false) and
//!   `validate_model_file_ffi` (it writes the reason). The state is checked before the arguments
//!   (`generate_text_nar_ffi(NULL, &out)` before init is `ENGINE_NOT_INITIALIZED`, not `INVALID_PARAMS`),
//!   and a result struct passed in is reset first, whatever fails after.
//!   `get_nar_status_ffi` answers `ENGINE_NOT_INITIALIZED` too but still fills the report
//!   (UNINITIALIZED or ERROR, and `last_error`): it is how a client reads why an init failed.
//!   **After a shutdown** every call but init answers `ENGINE_NOT_INITIALIZED`, as nar-ffi.md
//!   says, without an exception: `init_default_config_ffi`, `init_default_params_ffi`,
//!   `get_nar_version_ffi` and `free_nar_generated_text_ffi` included (issue 23, review S6: they
//!   were exempted here "where the spec is silent", and it is not). They still do their work
//!   there (fill the defaults, write the version, free the text and reset the struct), so that a
//!   client that ignores their code leaks nothing and can build its next init; a second free of
//!   the reset struct stays a no-op, as the spec says. `get_nar_error_description_ffi` returns a
//!   string, not a code, and answers as always. "Shutdown frees everything" is read as the
//!   library's own memory: a text handed out before it is the caller's until freed (freeing it at
//!   shutdown would make the caller's later free a double free). **Before the first init** those
//!   four answer `NAR_SUCCESS` (the spec's rule is about "after it", and a client builds its first
//!   config with the defaults). Reading the spec differently is its owners' call: until they
//!   decide otherwise, this is its literal text.
//! - **State first, then input**: a second init answers `ENGINE_ALREADY_INITIALIZED` whatever its
//!   config holds. Status answers at once from any thread: init loads the model and shutdown waits
//!   for generations without holding the engine lock, so INITIALIZING and SHUTTING_DOWN are seen.
//! - **Errors**: the code is the answer; the message of the last failure (any thread) is in the
//!   status report's `last_error`, and `validate_model_file_ffi` writes its own.
//! - **Deterministic** means greedy sampling; `seed` only matters for sampled requests.
//! - `use_thread_pool = false` runs inference on one thread; `use_gpu` is accepted but this build
//!   is CPU-only (`check_gpu_support_ffi` says false); `memory_limit_bytes` refuses a model file
//!   larger than the limit with `OUT_OF_MEMORY`; `context_length` is at most 16384 tokens and the
//!   `context` string at most 16384 bytes.
//! - **Cancel** ends every generation running at that moment; shutdown cancels and waits for them.
//! - **Streaming**: every partial text is a prefix of the final text (a tail that may still turn
//!   into a stop sequence is held back); the last call has `is_complete = true` and the final text.
//!   With a content filter on, partial texts are masked too and end at a word boundary.
//! - llama.cpp's backend is initialised once per process and stays (llama.cpp allows one); its own
//!   logging is silenced unless the first init asked for debug logging.

#![allow(non_camel_case_types)]

pub mod abi;
pub mod engine;
pub mod ffi;
pub mod narrative;
