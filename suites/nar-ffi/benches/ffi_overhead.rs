//! Benchmark (not a test): tokens per second and time to first token through the C ABI
//! (libmve_nar.so via libloading, streaming for the first token) versus the same greedy
//! generation through llama-cpp-2 directly (same chat template, context size, batch and threads),
//! alternating, in one run, so the FFI overhead is a ratio. Release build:
//! `cargo bench -p nar-ffi --bench ffi_overhead`. Result: target/mve-results/nar-ffi/bench_ffi_overhead.json.

use std::ffi::{c_char, c_void};
use std::num::NonZeroU32;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use nar_ffi::*;

const TOKENS: u32 = 96;
const ROUNDS: usize = 6;
const PROMPT: &str = "Tell the story of the first robot that left the bunker.";
const SYSTEM: &str = "You are the narrator of BunkerVerse.";

struct Run {
    ttft: f64,
    seconds: f64,
    tokens: u32,
}

unsafe extern "C" fn first_token(_: *const c_char, _: u32, _: bool, user: *mut c_void) {
    let slot = unsafe { &mut *(user as *mut (Instant, Option<f64>)) };
    if slot.1.is_none() {
        slot.1 = Some(slot.0.elapsed().as_secs_f64());
    }
}

fn through_ffi(nar: &Nar) -> Run {
    let prompt = cstring(PROMPT);
    let system = cstring(SYSTEM);
    let mut p = nar.params(&prompt, TOKENS);
    p.context = system.as_ptr();
    let mut out = std::mem::MaybeUninit::<NarGeneratedTextC>::zeroed();
    let mut slot = (Instant::now(), None::<f64>);
    let rc = unsafe { (nar.generate_streaming)(&p, Some(first_token), &mut slot as *mut _ as *mut c_void, out.as_mut_ptr()) };
    let seconds = slot.0.elapsed().as_secs_f64();
    assert_eq!(rc, NarResultCode::NAR_SUCCESS, "{}", nar.last_error());
    let mut out = unsafe { out.assume_init() };
    let tokens = out.token_count;
    unsafe { (nar.free)(&mut out) };
    Run { ttft: slot.1.unwrap_or(seconds), seconds, tokens }
}

fn direct(backend: &LlamaBackend, model: &LlamaModel) -> Run {
    let started = Instant::now();
    let template = model.chat_template(None).expect("chat template");
    let messages = [LlamaChatMessage::new("system".into(), SYSTEM.into()).unwrap(), LlamaChatMessage::new("user".into(), PROMPT.into()).unwrap()];
    let rendered = model.apply_chat_template(&template, &messages, true).expect("render");
    let vocab = model.vocab();
    let tokens = vocab.tokenize(rendered.as_bytes(), false, true);
    let params = LlamaContextParams::default().with_n_ctx(NonZeroU32::new(1024)).with_n_batch(512).with_n_ubatch(512).with_n_threads(2).with_n_threads_batch(2);
    let mut ctx = model.new_context(backend, params).expect("context");
    let mut batch = LlamaBatch::new(512, 1);
    for (i, t) in tokens.iter().enumerate() {
        batch.add(*t, i as i32, &[0], i + 1 == tokens.len()).unwrap();
    }
    ctx.decode(&mut batch).expect("prompt");
    let mut sampler = LlamaSampler::chain_simple([LlamaSampler::greedy()]);
    let mut pos = tokens.len() as i32;
    let mut text = Vec::new();
    let mut n = 0;
    let mut ttft = None;
    while n < TOKENS {
        let token = sampler.sample(&ctx, batch.n_tokens() - 1);
        if vocab.is_eog(token) {
            break;
        }
        text.extend(vocab.token_to_piece(token, false, None));
        n += 1;
        ttft.get_or_insert(started.elapsed().as_secs_f64());
        batch.clear();
        batch.add(token, pos, &[0], true).unwrap();
        pos += 1;
        ctx.decode(&mut batch).expect("decode");
    }
    Run { ttft: ttft.unwrap_or(0.0), seconds: started.elapsed().as_secs_f64(), tokens: n }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn summary(runs: &[Run]) -> serde_json::Value {
    let tps: Vec<f64> = runs.iter().map(|r| f64::from(r.tokens) / r.seconds).collect();
    let decode: Vec<f64> = runs.iter().map(|r| f64::from(r.tokens.saturating_sub(1)) / (r.seconds - r.ttft)).collect();
    serde_json::json!({
        "runs": runs.len(),
        "tokens_per_run": runs.iter().map(|r| r.tokens).collect::<Vec<_>>(),
        "median_tokens_per_second": median(tps),
        "median_decode_tokens_per_second": median(decode),
        "median_time_to_first_token_ms": median(runs.iter().map(|r| r.ttft * 1000.0).collect()),
    })
}

fn main() {
    let nar = Nar::load();
    let model_file = model_path();
    let model_c = cstring(&model_file.to_string_lossy());
    let config = nar.config(&model_c);
    assert_eq!(unsafe { (nar.init)(&config) }, NarResultCode::NAR_SUCCESS, "{}", nar.last_error());
    let mut backend = LlamaBackend::init().expect("backend");
    backend.void_logs();
    let model = LlamaModel::load_from_file(&backend, &model_file, &LlamaModelParams::default()).expect("model");
    // Warm-up of both paths, then alternate so that drift on a shared machine hits both.
    through_ffi(&nar);
    direct(&backend, &model);
    let (mut ffi, mut bind) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ffi.push(through_ffi(&nar));
        bind.push(direct(&backend, &model));
    }
    assert!(ffi.iter().zip(&bind).all(|(a, b)| a.tokens == b.tokens), "both paths generate the same tokens");
    let (f, b) = (summary(&ffi), summary(&bind));
    let ratio = f["median_tokens_per_second"].as_f64().unwrap() / b["median_tokens_per_second"].as_f64().unwrap();
    let ttft_ratio = f["median_time_to_first_token_ms"].as_f64().unwrap() / b["median_time_to_first_token_ms"].as_f64().unwrap();
    let result = serde_json::json!({
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "model": model_file.file_name().map(|n| n.to_string_lossy().into_owned()),
        "threads": 2,
        "max_tokens": TOKENS,
        "through_c_abi": f,
        "through_binding": b,
        "ffi_to_binding_tokens_per_second_ratio": ratio,
        "ffi_to_binding_time_to_first_token_ratio": ttft_ratio,
    });
    let path = harness::results::write_json("nar-ffi", "bench_ffi_overhead", &result).expect("write result");
    println!("{}\nresult: {}", serde_json::to_string_pretty(&result).unwrap(), path.display());
}
