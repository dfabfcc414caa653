//! `NAR_ERROR_TIMEOUT` and the content filters, through the C ABI.

use std::ffi::{c_char, c_void};
use std::time::{Duration, Instant};

use NarResultCode::*;
use nar_ffi::*;

/// A streaming reader that stalls on its first token until the request's timeout has passed (the
/// `Instant` behind `user_data`), so the generation must notice it at its next token. The stall is the
/// injected fault — a client slower per token than the whole timeout — not a synchronisation: the
/// test waits for the generation's return, and the stall ends at a deadline computed from the
/// timeout rather than at a guessed duration.
extern "C" fn slow_reader(_: *const c_char, _: u32, is_complete: bool, user_data: *mut c_void) {
    // SAFETY: `stream` passes a pointer to an `Instant` that outlives the call.
    let past_timeout = unsafe { *(user_data as *const Instant) };
    if !is_complete {
        std::thread::sleep(past_timeout.saturating_duration_since(Instant::now()));
    }
}

/// Streams with `slow_reader`; `timeout_seconds` is the one the request will get (its own or the
/// engine's).
fn stream(nar: &Nar, p: &GenerateParamsC, timeout_seconds: u64) -> (NarResultCode, NarGeneratedTextC) {
    let past_timeout = Instant::now() + Duration::from_secs(timeout_seconds) + Duration::from_millis(100);
    let mut out = std::mem::MaybeUninit::<NarGeneratedTextC>::zeroed();
    let user_data = &past_timeout as *const Instant as *mut c_void;
    // SAFETY: valid params, callback, user data and out-pointer.
    let rc = unsafe { (nar.generate_streaming)(p, Some(slow_reader), user_data, out.as_mut_ptr()) };
    // SAFETY: written by the library, zeroed on failure.
    (rc, unsafe { out.assume_init() })
}

#[test]
fn a_generation_past_its_request_timeout_is_timeout_and_leaves_nothing_allocated() {
    let nar = Nar::load();
    nar.start();
    let prompt = cstring("Count from one to twenty.");
    let mut p = nar.params(&prompt, 24);
    p.timeout_seconds = 1;
    let (rc, out) = stream(&nar, &p, 1);
    assert_eq!(rc, NAR_ERROR_TIMEOUT, "{}", nar.last_error());
    assert!(out.text.is_null() && out.token_count == 0, "a timed-out generation returns no text");
    assert!(nar.last_error().contains("timed out"), "{}", nar.last_error());
    assert_eq!(nar.description(NAR_ERROR_TIMEOUT as i32), "generation timed out");
    // The engine is intact and the timeout was the request's alone.
    let g = nar.generate_text(&nar.params(&prompt, 4)).expect("the next request runs");
    assert!(g.token_count >= 1);
}

#[test]
fn the_engines_timeout_applies_when_the_request_names_none() {
    let nar = Nar::load();
    assert_eq!(nar.init_with(|c| c.timeout_seconds = 1), NAR_SUCCESS, "{}", nar.last_error());
    let prompt = cstring("Count from one to twenty.");
    let p = nar.params(&prompt, 24);
    assert_eq!(p.timeout_seconds, 0, "the request names no timeout");
    let (rc, _) = stream(&nar, &p, 1);
    assert_eq!(rc, NAR_ERROR_TIMEOUT, "{}", nar.last_error());
}

/// A greedy prompt whose unfiltered text holds a blocked word ("Damn"), and words around it.
const PROFANE: &str = "The angry robot shouted: damn";

/// What a streaming generation showed: every partial text and the final one.
#[derive(Default)]
struct Seen {
    partials: Vec<String>,
}

extern "C" fn collect(partial: *const c_char, _: u32, _: bool, user: *mut c_void) {
    // SAFETY: `user` is the Seen below; `partial` is a NUL-terminated string valid during the call.
    let seen = unsafe { &mut *(user as *mut Seen) };
    seen.partials.push(unsafe { std::ffi::CStr::from_ptr(partial) }.to_string_lossy().into_owned());
}

fn filtered(nar: &Nar, content: bool, profanity: bool) -> Generated {
    let prompt = cstring(PROFANE);
    let mut p = nar.params(&prompt, 24);
    p.enable_content_filter = content;
    p.enable_profanity_filter = profanity;
    nar.generate_text(&p).expect("generate")
}

#[test]
fn the_content_and_profanity_filters_mask_blocked_words_and_say_so() {
    let nar = Nar::load();
    nar.start();
    let raw = filtered(&nar, false, false);
    assert!(raw.text.contains("Damn") && !raw.content_filtered, "the unfiltered text holds the word: {raw:?}");
    for (content, profanity) in [(true, false), (false, true)] {
        let g = filtered(&nar, content, profanity);
        assert!(g.content_filtered, "content {content} profanity {profanity}: {g:?}");
        assert_eq!(g.text, raw.text.replace("Damn", "****"), "only the blocked word is masked, letter for letter");
    }
}

#[test]
fn the_engines_content_filtering_applies_to_every_request() {
    let nar = Nar::load();
    assert_eq!(nar.init_with(|c| c.enable_content_filtering = true), NAR_SUCCESS, "{}", nar.last_error());
    let g = filtered(&nar, false, false);
    assert!(g.content_filtered && !g.text.contains("Damn") && g.text.contains("****"), "{g:?}");
}

#[test]
fn streamed_partials_are_masked_too_and_never_show_a_blocked_word() {
    let nar = Nar::load();
    nar.start();
    let prompt = cstring(PROFANE);
    let mut p = nar.params(&prompt, 24);
    p.enable_content_filter = true;
    let mut seen = Seen::default();
    let mut out = std::mem::MaybeUninit::<NarGeneratedTextC>::zeroed();
    // SAFETY: valid params, callback, user data and out-pointer.
    let rc = unsafe { (nar.generate_streaming)(&p, Some(collect), (&mut seen as *mut Seen).cast(), out.as_mut_ptr()) };
    assert_eq!(rc, NAR_SUCCESS, "{}", nar.last_error());
    // SAFETY: written by the library.
    let mut out = unsafe { out.assume_init() };
    let last = Generated::copy(&out);
    // SAFETY: a result of the library.
    unsafe { (nar.free)(&mut out) };
    assert!(last.content_filtered && last.text.contains("****"), "{:?}", last.text);
    assert!(seen.partials.len() >= 3, "{:?}", seen.partials);
    for partial in &seen.partials {
        assert!(!partial.to_lowercase().contains("damn") && !partial.ends_with("Dam") && !partial.ends_with("Da"), "a partial text shows (part of) the word: {partial:?}");
        assert!(last.text.starts_with(partial.as_str()), "every partial is a prefix of the final text: {partial:?} / {:?}", last.text);
    }
}
