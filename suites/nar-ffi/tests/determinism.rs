//! A deterministic request gives byte-identical text across calls and across init/shutdown
//! cycles; a sampled request with a fixed seed does too.

use NarResultCode::*;
use nar_ffi::*;

fn request(nar: &Nar, prompt: &std::ffi::CStr, context: &std::ffi::CStr, sampled: bool) -> GenerateParamsC {
    let mut p = nar.params(prompt, 32);
    p.context = context.as_ptr();
    if sampled {
        p.deterministic = false;
        p.temperature = 0.9;
        p.seed = 33_701;
    }
    p
}

#[test]
fn the_same_request_gives_the_same_bytes_across_calls_and_init_shutdown_cycles() {
    let nar = Nar::load();
    let prompt = cstring("A convoy is ambushed in the canyon.");
    let context = cstring("narrative=COMBAT_NARRATIVE;class=ENFORCER;affiliation=CORRUPT");
    let mut greedy = Vec::new();
    let mut sampled = Vec::new();
    for _cycle in 0..3 {
        nar.start();
        for _call in 0..2 {
            greedy.push(nar.generate_text(&request(&nar, &prompt, &context, false)).expect("greedy"));
            sampled.push(nar.generate_text(&request(&nar, &prompt, &context, true)).expect("sampled"));
        }
        assert_eq!(unsafe { (nar.shutdown)() }, NAR_SUCCESS);
    }
    assert!(!greedy[0].text.is_empty());
    assert!(greedy.iter().all(|g| g == &greedy[0]), "greedy texts differ: {greedy:#?}");
    assert!(sampled.iter().all(|g| g == &sampled[0]), "seeded texts differ: {sampled:#?}");
}

#[test]
fn a_different_seed_changes_a_sampled_text() {
    // Guards the test above: if seeds were ignored, "same seed, same text" would prove nothing.
    let nar = Nar::load();
    nar.start();
    let prompt = cstring("Invent a name for a new robot class and describe it.");
    let context = cstring("narrative=LORE_REVELATION;class=CYBERMANCER;affiliation=NEUTRAL");
    let texts: std::collections::BTreeSet<String> = (1..=4u32)
        .map(|seed| {
            let mut p = request(&nar, &prompt, &context, true);
            p.seed = seed;
            nar.generate_text(&p).expect("sampled").text
        })
        .collect();
    assert!(texts.len() > 1, "four seeds gave one text: {texts:?}");
}
