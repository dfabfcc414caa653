//! Several threads at once, cancellation from another thread, and streaming against the result.

use std::ffi::{CStr, c_char, c_void};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use NarResultCode::*;
use nar_ffi::memory::{Sample, judge, rss_bytes};
use nar_ffi::*;

#[test]
fn four_threads_generating_at_once_all_succeed_with_the_text_of_a_lone_generation() {
    let nar = Arc::new(Nar::load());
    // One llama.cpp thread per generation: four generations already use both cores.
    assert_eq!(nar.init_with(|c| c.thread_count = 1), NAR_SUCCESS, "{}", nar.last_error());
    let prompts = ["A robot repairs a generator.", "A scout crosses the ash desert.", "Two guards argue at the gate.", "The vault door hums."];
    let alone: Vec<String> = prompts.iter().map(|p| nar.generate_text(&nar.params(&cstring(p), 16)).expect("alone").text).collect();
    let start = Arc::new(Barrier::new(prompts.len()));
    let threads: Vec<_> = prompts
        .iter()
        .map(|p| {
            let (nar, start, prompt) = (nar.clone(), start.clone(), cstring(p));
            std::thread::spawn(move || {
                start.wait();
                (0..3).map(|_| nar.generate_text(&nar.params(&prompt, 16)).map(|g| g.text)).collect::<Vec<_>>()
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        for (round, r) in t.join().expect("thread").into_iter().enumerate() {
            let text = r.unwrap_or_else(|e| panic!("thread {i} round {round}: {e:?}"));
            assert_eq!(text, alone[i], "thread {i} round {round}: concurrent text differs from the lone one");
        }
    }
    let r = nar.status_report();
    assert_eq!((r.total_generations, r.active_generations), (4 + 12, 0));
}

struct Stream {
    partials: Vec<(String, u32, bool)>,
    /// Blocks the generating thread inside its first callback until released.
    hold_first: Option<(mpsc::Sender<()>, Arc<Barrier>)>,
}

unsafe extern "C" fn on_partial(text: *const c_char, tokens: u32, complete: bool, user: *mut c_void) {
    let stream = unsafe { &*(user as *const Mutex<Stream>) };
    let mut s = stream.lock().unwrap();
    s.partials.push((unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned(), tokens, complete));
    if let Some((started, release)) = s.hold_first.take() {
        drop(s);
        started.send(()).unwrap();
        release.wait();
    }
}

fn stream(nar: &Nar, p: &GenerateParamsC, state: &Mutex<Stream>) -> (NarResultCode, Option<Generated>) {
    let mut out = std::mem::MaybeUninit::<NarGeneratedTextC>::zeroed();
    let rc = unsafe { (nar.generate_streaming)(p, Some(on_partial), state as *const _ as *mut c_void, out.as_mut_ptr()) };
    let mut out = unsafe { out.assume_init() };
    if rc != NAR_SUCCESS {
        assert!(out.text.is_null(), "a failed generation left text allocated");
        return (rc, None);
    }
    let g = Generated::copy(&out);
    assert_eq!(unsafe { (nar.free)(&mut out) }, NAR_SUCCESS);
    (rc, Some(g))
}

#[test]
fn streaming_callbacks_grow_towards_exactly_the_final_text() {
    let nar = Nar::load();
    nar.start();
    let prompt = cstring("Describe the bunker's reactor room.");
    let stop = cstring("reactor core");
    let mut p = nar.params(&prompt, 48);
    p.stop_sequences[0] = stop.as_ptr();
    p.stop_sequence_count = 1;
    let state = Mutex::new(Stream { partials: Vec::new(), hold_first: None });
    let (rc, g) = stream(&nar, &p, &state);
    assert_eq!(rc, NAR_SUCCESS, "{}", nar.last_error());
    let g = g.unwrap();
    let plain = nar.generate_text(&p).expect("the same request without streaming");
    assert_eq!(g.text, plain.text, "streaming and plain generation give the same text");
    let partials = &state.lock().unwrap().partials;
    let (last, rest) = partials.split_last().expect("at least the final callback");
    assert_eq!((last.0.as_str(), last.1, last.2), (g.text.as_str(), g.token_count, true), "the last callback is the final text");
    assert!(rest.len() >= 2 && rest.iter().all(|(_, _, c)| !c), "one incomplete callback per token: {}", rest.len());
    for w in rest.windows(2) {
        assert!(w[1].1 == w[0].1 + 1 && w[1].0.starts_with(&w[0].0), "partials grow: {:?} -> {:?}", w[0], w[1]);
    }
    assert!(rest.iter().all(|(t, _, _)| g.text.starts_with(t.as_str())), "every partial is a prefix of the final text");
}

#[test]
fn cancel_from_another_thread_ends_a_long_generation_with_cancelled_and_leaks_nothing() {
    let nar = Arc::new(Nar::load());
    nar.start();
    let prompt = cstring("Tell the full history of the bunker, generation by generation.");
    let mut samples = Vec::new();
    let cycles = 24u64;
    for cycle in 0..cycles {
        let (started_tx, started_rx) = mpsc::channel();
        let release = Arc::new(Barrier::new(2));
        let generator = {
            let (nar, prompt, release) = (nar.clone(), prompt.clone(), release.clone());
            std::thread::spawn(move || {
                let p = nar.params(&prompt, 400);
                let state = Mutex::new(Stream { partials: Vec::new(), hold_first: Some((started_tx, release)) });
                let (rc, g) = stream(&nar, &p, &state);
                let n = state.lock().unwrap().partials.len();
                (rc, g, n)
            })
        };
        started_rx.recv_timeout(Duration::from_secs(60)).expect("the generation started");
        let r = nar.status_report();
        assert_eq!((r.status, r.active_generations), (NarEngineStatus::NAR_STATUS_GENERATING, 1), "status while generating");
        assert_eq!(unsafe { (nar.cancel)() }, NAR_SUCCESS);
        release.wait();
        let (rc, g, callbacks) = generator.join().expect("generator thread");
        assert_eq!(rc, NAR_ERROR_CANCELLED, "cycle {cycle}: {g:?}");
        assert_eq!(callbacks, 1, "no callback after the cancel was seen");
        assert_eq!(nar.status_report().active_generations, 0);
        samples.push(Sample { iteration: cycle, tokens: cycle, rss_bytes: rss_bytes() });
    }
    // A cancelled generation must free its llama.cpp context (tens of MB): RSS stays flat.
    let v = judge("cancelled generations", samples, 4, None, 512.0 * 1024.0);
    assert!(v.valid, "{}", v.summary());
    let after = nar.generate_text(&nar.params(&cstring("Say hello."), 4));
    assert!(after.is_ok(), "the engine works after cancellations: {after:?}");
}
