//! Version, GPU support, descriptions and a first generation through the C ABI.

use nar_ffi::*;

#[test]
fn version_is_0_1_0_and_gpu_support_is_answered() {
    let nar = Nar::load();
    nar.start();
    let (mut a, mut b, mut c) = (9, 9, 9);
    assert_eq!(unsafe { (nar.version)(&mut a, &mut b, &mut c) }, NarResultCode::NAR_SUCCESS);
    assert_eq!((a, b, c), (0, 1, 0));
    let mut gpu = true;
    assert_eq!(unsafe { (nar.gpu)(&mut gpu) }, NarResultCode::NAR_SUCCESS);
    assert!(!gpu, "this build is CPU-only");
}

#[test]
fn every_code_has_a_description_and_unknown_values_get_one_too() {
    let nar = Nar::load();
    let codes = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 99];
    let texts: Vec<String> = codes.iter().map(|c| nar.description(*c)).collect();
    let unique: std::collections::BTreeSet<&String> = texts.iter().collect();
    assert_eq!(unique.len(), codes.len(), "each code its own text: {texts:?}");
    for odd in [-1, 13, 98, 100, i32::MAX, i32::MIN] {
        assert_eq!(nar.description(odd), nar.description(99), "code {odd}");
    }
}

#[test]
fn a_generation_reports_its_tokens_time_and_stop_reason_and_the_status_counts_it() {
    let nar = Nar::load();
    nar.start();
    let prompt = cstring("Describe a rusty robot in one sentence.");
    let g = nar.generate_text(&nar.params(&prompt, 12)).expect("generate");
    assert!(!g.text.trim().is_empty() && g.valid_utf8, "{g:?}");
    assert!(g.token_count >= 1 && g.token_count <= 12, "{g:?}");
    assert!(g.prompt_token_count > 5, "{g:?}");
    assert!(g.seconds > 0.0, "{g:?}");
    assert!(g.stop_reason == NAR_STOP_MAX_TOKENS || g.stop_reason == NAR_STOP_END_OF_SEQUENCE, "{g:?}");
    let r = nar.status_report();
    assert_eq!(r.status, NarEngineStatus::NAR_STATUS_READY);
    assert_eq!((r.total_generations, r.total_tokens_generated), (1, u64::from(g.token_count)));
    let model_name = unsafe { std::ffi::CStr::from_ptr(r.model_name) }.to_string_lossy().into_owned();
    assert!(!model_name.is_empty() && r.model_size_bytes > 10_000_000, "{model_name} {}", r.model_size_bytes);
    assert_eq!(unsafe { (nar.shutdown)() }, NarResultCode::NAR_SUCCESS);
    assert_eq!(nar.status_report().status, NarEngineStatus::NAR_STATUS_UNINITIALIZED);
}

#[test]
fn a_stop_sequence_ends_the_text_before_it_and_is_reported() {
    let nar = Nar::load();
    nar.start();
    let prompt = cstring("Count from one to ten.");
    let free = nar.generate_text(&nar.params(&prompt, 40)).expect("generate");
    // Stop where the model writes "three" (greedy: the unstopped text shows where that is).
    let comma = cstring("three");
    let mut p = nar.params(&prompt, 40);
    p.stop_sequences[0] = comma.as_ptr();
    p.stop_sequence_count = 1;
    let g = nar.generate_text(&p).expect("generate");
    assert!(free.text.contains("three"), "the unstopped text has the stop sequence: {free:?}");
    assert_eq!(g.stop_reason, NAR_STOP_SEQUENCE, "{g:?}");
    assert_eq!(g.stop_sequence_matched.as_deref(), Some("three"));
    assert_eq!(g.text, free.text[..free.text.find("three").unwrap()], "same greedy text up to the stop");
}
