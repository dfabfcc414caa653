//! The NAR's documented limits at their exact boundary (issue 25): a value exactly at a limit passes
//! the check of that limit, one past it is refused with its documented code and message. (What
//! one past a byte limit is refused with is also in `misuse`; here each limit is met on both
//! sides.) The table in this suite's README lists each limit with its case here.

use NarResultCode::*;
use nar_ffi::*;

fn refused_with(nar: &Nar, params: &GenerateParamsC, code: NarResultCode, mentions: &str) -> Result<(), String> {
    match nar.generate_text(params) {
        Err((rc, msg)) if rc == code && msg.contains(mentions) => Ok(()),
        Err((rc, msg)) => Err(format!("want {code:?} naming {mentions:?}, got {rc:?}: {msg}")),
        Ok(g) => Err(format!("want {code:?}, but it generated {:?}", g.text)),
    }
}

/// Not refused by the byte limit being tested: generated, or refused for another reason (a prompt
/// of 8,192 bytes may well not fit the context) but never by `limit_message`.
fn passes_the_byte_check(nar: &Nar, params: &GenerateParamsC, limit_message: &str) -> Result<(), String> {
    match nar.generate_text(params) {
        Ok(_) => Ok(()),
        Err((rc, msg)) if rc == NAR_ERROR_INVALID_PARAMS && msg.contains(limit_message) => Err(format!("refused at the limit: {msg}")),
        Err((NAR_ERROR_CONTEXT_TOO_LONG, _)) => Ok(()),
        Err((rc, msg)) => Err(format!("refused for another reason: {rc:?} {msg}")),
    }
}

#[test]
fn each_limit_holds_exactly_at_its_value_and_refuses_one_past_it() {
    let nar = Nar::load();
    const CONTEXT: u32 = 512;
    let rc = nar.init_with(|c| {
        c.context_length = CONTEXT;
        c.max_batch_size = CONTEXT;
    });
    assert_eq!(rc, NAR_SUCCESS, "{}", nar.last_error());
    let mut wrong = Vec::new();
    let mut check = |limit: &str, case: &str, r: Result<(), String>| {
        if let Err(e) = r {
            wrong.push(format!("{limit} ({case}): {e}"));
        }
    };

    // Prompt and context bytes.
    let at = cstring(&"a".repeat(NAR_MAX_PROMPT));
    let past = cstring(&"a".repeat(NAR_MAX_PROMPT + 1));
    check("prompt bytes", "at 8192", passes_the_byte_check(&nar, &nar.params(&at, 1), "longer than 8192"));
    check("prompt bytes", "past 8192", refused_with(&nar, &nar.params(&past, 1), NAR_ERROR_INVALID_PARAMS, "longer than 8192"));
    let ok = cstring("Say hello.");
    let at = cstring(&"b".repeat(NAR_MAX_CONTEXT));
    let past = cstring(&"b".repeat(NAR_MAX_CONTEXT + 1));
    let mut p = nar.params(&ok, 1);
    p.context = at.as_ptr();
    check("context bytes", "at 16384", passes_the_byte_check(&nar, &p, "longer than 16384"));
    p.context = past.as_ptr();
    check("context bytes", "past 16384", refused_with(&nar, &p, NAR_ERROR_INVALID_PARAMS, "longer than 16384"));

    // Prompt tokens + max tokens against the context: the refusal names the prompt's token count,
    // so the largest max_tokens that fits is known exactly.
    let prompt = cstring("Tell a short story about a robot.");
    let n = match nar.generate_text(&nar.params(&prompt, CONTEXT)) {
        Err((NAR_ERROR_CONTEXT_TOO_LONG, msg)) => {
            msg.split(" prompt tokens").next().and_then(|t| t.rsplit(' ').next()).and_then(|t| t.parse::<u32>().ok()).unwrap_or_else(|| panic!("no token count in {msg:?}"))
        }
        other => panic!("max_tokens = the whole context must not fit: {other:?}"),
    };
    let fits = CONTEXT - n;
    let mut p = nar.params(&prompt, fits);
    p.temperature = 0.0;
    check("prompt tokens + max_tokens <= context", &format!("at {n} + {fits}"), nar.generate_text(&p).map(drop).map_err(|(rc, m)| format!("{rc:?} {m}")));
    check("prompt tokens + max_tokens <= context", &format!("past {n} + {}", fits + 1), refused_with(&nar, &nar.params(&prompt, fits + 1), NAR_ERROR_CONTEXT_TOO_LONG, "exceed the context of 512"));

    // Stop sequences: at most 8, each at most 256 bytes.
    let stops: Vec<_> = (0..NAR_MAX_STOP_SEQUENCES + 1).map(|i| cstring(&format!("<stop{i}>"))).collect();
    let mut p = nar.params(&ok, 4);
    for (i, s) in stops.iter().take(NAR_MAX_STOP_SEQUENCES).enumerate() {
        p.stop_sequences[i] = s.as_ptr();
    }
    p.stop_sequence_count = NAR_MAX_STOP_SEQUENCES as u32;
    check("stop sequences", "at 8", nar.generate_text(&p).map(drop).map_err(|(rc, m)| format!("{rc:?} {m}")));
    p.stop_sequence_count = NAR_MAX_STOP_SEQUENCES as u32 + 1;
    check("stop sequences", "past 8", refused_with(&nar, &p, NAR_ERROR_INVALID_PARAMS, "stop_sequence_count = 9 is over 8"));
    let at = cstring(&"s".repeat(256));
    let past = cstring(&"s".repeat(257));
    let mut p = nar.params(&ok, 4);
    p.stop_sequence_count = 1;
    p.stop_sequences[0] = at.as_ptr();
    check("stop sequence bytes", "at 256", nar.generate_text(&p).map(drop).map_err(|(rc, m)| format!("{rc:?} {m}")));
    p.stop_sequences[0] = past.as_ptr();
    check("stop sequence bytes", "past 256", refused_with(&nar, &p, NAR_ERROR_INVALID_PARAMS, "longer than 256"));

    assert!(wrong.is_empty(), "limits off at their boundary:\n{}", wrong.join("\n"));
}
