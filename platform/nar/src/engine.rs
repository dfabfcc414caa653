//! The engine behind the C ABI: one loaded model, a fresh llama.cpp context per generation (so
//! generations never share state and a finished one leaves nothing behind), and the counters the
//! status report shows.

use std::ffi::CString;
use std::io::Write;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use crate::abi::{NAR_MAX_RESPONSE, NAR_STOP_END_OF_SEQUENCE, NAR_STOP_MAX_TOKENS, NAR_STOP_SEQUENCE, NarResultCode};
use crate::narrative::Prompt;

/// An error as the ABI reports it: a code and a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub code: NarResultCode,
    pub message: String,
}

impl Failure {
    pub fn new(code: NarResultCode, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }
}

pub type Result<T> = std::result::Result<T, Failure>;
use NarResultCode::*;

/// llama.cpp's backend may be initialised once per process; it lives until the process ends.
fn backend(quiet: bool) -> Result<&'static LlamaBackend> {
    static BACKEND: OnceLock<std::result::Result<LlamaBackend, String>> = OnceLock::new();
    let backend = BACKEND.get_or_init(|| {
        LlamaBackend::init()
            .map(|mut b| {
                if quiet {
                    b.void_logs();
                }
                b
            })
            .map_err(|e| e.to_string())
    });
    backend.as_ref().map_err(|e| Failure::new(NAR_ERROR_UNKNOWN, format!("llama.cpp backend: {e}")))
}

/// Bumped by `cancel_generation_ffi`: every generation that started before the bump ends.
pub static CANCEL_EPOCH: AtomicU64 = AtomicU64::new(0);

/// The engine settings, copied out of `NarConfigC`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub model_path: String,
    pub context_length: u32,
    pub max_batch_size: u32,
    pub threads: u32,
    pub memory_limit_bytes: u64,
    pub use_mmap: bool,
    pub temperature: f32,
    pub max_tokens: u32,
    pub top_p: f32,
    pub top_k: u32,
    pub content_filtering: bool,
    pub timeout: Option<Duration>,
    pub debug_logging: bool,
    pub log_file: Option<String>,
}

/// One request, copied out of `GenerateParamsC` and resolved against the engine's defaults.
#[derive(Debug, Clone)]
pub struct Request {
    pub prompt: Prompt,
    pub max_tokens: u32,
    pub temperature: f32,
    pub top_p: f32,
    pub top_k: u32,
    pub repetition_penalty: f32,
    pub stops: Vec<String>,
    pub filter: bool,
    pub seed: u32,
    pub deterministic: bool,
    pub timeout: Option<Duration>,
    pub min_p: f32,
    pub typical_p: f32,
    pub mirostat: (u32, f32, f32),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub text: String,
    pub tokens: u32,
    pub prompt_tokens: u32,
    pub seconds: f64,
    pub stop_reason: u32,
    pub filtered: bool,
    pub matched_stop: Option<String>,
}

pub struct Engine {
    pub settings: Settings,
    model: LlamaModel,
    pub model_path: CString,
    pub model_name: CString,
    pub model_size: u64,
    /// Creating contexts of one model in parallel is unsound (llama-cpp-2's own note): serialise.
    create: Mutex<()>,
    log: Option<Mutex<Box<dyn Write + Send>>>,
    pub generations: AtomicU64,
    pub tokens: AtomicU64,
    pub active: AtomicU32,
    /// Total generation time in microseconds, for tokens per second.
    pub micros: AtomicU64,
}

/// Checks that a file is there and looks like GGUF (magic and a known version), without loading it.
pub fn check_model_file(path: &str) -> Result<u64> {
    let p = Path::new(path);
    let meta = std::fs::metadata(p).map_err(|e| Failure::new(NAR_ERROR_MODEL_NOT_FOUND, format!("model file {path}: {e}")))?;
    if !meta.is_file() {
        return Err(Failure::new(NAR_ERROR_MODEL_NOT_FOUND, format!("model path {path} is not a file")));
    }
    let mut head = [0u8; 8];
    let read = std::fs::File::open(p).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head));
    if read.is_err() || &head[..4] != b"GGUF" {
        return Err(Failure::new(NAR_ERROR_MODEL_LOAD_FAILED, format!("{path} is not a GGUF file")));
    }
    let version = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if !(2..=3).contains(&version) {
        return Err(Failure::new(NAR_ERROR_MODEL_LOAD_FAILED, format!("{path}: unsupported GGUF version {version}")));
    }
    Ok(meta.len())
}

impl Engine {
    pub fn load(settings: Settings) -> Result<Engine> {
        let size = check_model_file(&settings.model_path)?;
        if settings.memory_limit_bytes != 0 && size > settings.memory_limit_bytes {
            return Err(Failure::new(NAR_ERROR_OUT_OF_MEMORY, format!("model of {size} bytes exceeds the memory limit of {} bytes", settings.memory_limit_bytes)));
        }
        let log: Option<Mutex<Box<dyn Write + Send>>> = if settings.debug_logging {
            let sink: Box<dyn Write + Send> = match &settings.log_file {
                Some(path) => Box::new(std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| Failure::new(NAR_ERROR_INVALID_PARAMS, format!("log file {path}: {e}")))?),
                None => Box::new(std::io::stdout()),
            };
            Some(Mutex::new(sink))
        } else {
            None
        };
        let backend = backend(!settings.debug_logging)?;
        let params = LlamaModelParams::default().with_use_mmap(settings.use_mmap);
        let model = LlamaModel::load_from_file(backend, &settings.model_path, &params)
            .map_err(|e| Failure::new(NAR_ERROR_MODEL_LOAD_FAILED, format!("llama.cpp could not load {}: {e}", settings.model_path)))?;
        let name = model.meta_val_str("general.name").unwrap_or_else(|_| "unknown".into());
        let engine = Engine {
            model_path: cstring(&settings.model_path),
            model_name: cstring(&name),
            model_size: model.size(),
            settings,
            model,
            create: Mutex::new(()),
            log,
            generations: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
            active: AtomicU32::new(0),
            micros: AtomicU64::new(0),
        };
        engine.log(&format!("model {name} loaded from {}", engine.settings.model_path));
        Ok(engine)
    }

    pub fn log(&self, line: &str) {
        if let Some(log) = &self.log
            && let Ok(mut w) = log.lock()
        {
            let _ = writeln!(w, "[nar] {line}");
            let _ = w.flush();
        }
    }

    fn threads(&self) -> i32 {
        match self.settings.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get() as i32),
            n => n as i32,
        }
    }

    /// The prompt rendered with the model's chat template (ChatML for SmolLM2), or plainly when the
    /// model has none.
    fn render(&self, prompt: &Prompt) -> Result<String> {
        let invalid = |e: &dyn std::fmt::Display| Failure::new(NAR_ERROR_INVALID_PARAMS, format!("prompt: {e}"));
        let messages = [LlamaChatMessage::new("system".into(), prompt.system.clone()).map_err(|e| invalid(&e))?, LlamaChatMessage::new("user".into(), prompt.user.clone()).map_err(|e| invalid(&e))?];
        let rendered = match self.model.chat_template(None) {
            Ok(template) => self.model.apply_chat_template(&template, &messages, true).map_err(|e| Failure::new(NAR_ERROR_GENERATION_FAILED, format!("chat template: {e}")))?,
            Err(_) => format!("{}\n\n{}\n", prompt.system, prompt.user),
        };
        // The answer's opening goes into the assistant's turn: the model continues it.
        Ok(rendered + &prompt.opening)
    }

    fn sampler(&self, req: &Request) -> LlamaSampler {
        let mut chain = Vec::new();
        if req.repetition_penalty != 1.0 {
            chain.push(LlamaSampler::penalties(self.model.n_vocab(), 64, req.repetition_penalty, 0.0, 0.0));
        }
        if req.deterministic || req.temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
            return LlamaSampler::chain_simple(chain);
        }
        let seed = if req.seed == 0 { rand_seed() } else { req.seed };
        match req.mirostat.0 {
            1 => {
                chain.push(LlamaSampler::temp(req.temperature));
                chain.push(LlamaSampler::mirostat(self.model.n_vocab(), seed, req.mirostat.1, req.mirostat.2, 100));
            }
            2 => {
                chain.push(LlamaSampler::temp(req.temperature));
                chain.push(LlamaSampler::mirostat_v2(seed, req.mirostat.1, req.mirostat.2));
            }
            _ => {
                if req.top_k > 0 {
                    chain.push(LlamaSampler::top_k(req.top_k as i32));
                }
                if req.typical_p > 0.0 && req.typical_p < 1.0 {
                    chain.push(LlamaSampler::typical(req.typical_p, 1));
                }
                if req.top_p > 0.0 && req.top_p < 1.0 {
                    chain.push(LlamaSampler::top_p(req.top_p, 1));
                }
                if req.min_p > 0.0 {
                    chain.push(LlamaSampler::min_p(req.min_p, 1));
                }
                chain.push(LlamaSampler::temp(req.temperature));
                chain.push(LlamaSampler::dist(seed));
            }
        }
        LlamaSampler::chain_simple(chain)
    }

    /// Generates text. `on_token(text_so_far, tokens)` sees each step's text; every text it sees is
    /// a prefix of the final text (a tail that may still become a stop sequence is held back).
    pub fn generate(&self, req: &Request, on_token: &mut dyn FnMut(&str, u32)) -> Result<Output> {
        let epoch = CANCEL_EPOCH.load(Ordering::SeqCst);
        let started = Instant::now();
        let rendered = self.render(&req.prompt)?;
        let vocab = self.model.vocab();
        let prompt_tokens = vocab.tokenize(rendered.as_bytes(), false, true);
        let n_ctx = self.settings.context_length;
        if prompt_tokens.len() as u64 + u64::from(req.max_tokens) > u64::from(n_ctx) {
            return Err(Failure::new(NAR_ERROR_CONTEXT_TOO_LONG, format!("{} prompt tokens + {} max tokens exceed the context of {n_ctx}", prompt_tokens.len(), req.max_tokens)));
        }
        let n_batch = self.settings.max_batch_size.max(1);
        let params = LlamaContextParams::default().with_n_ctx(NonZeroU32::new(n_ctx)).with_n_batch(n_batch).with_n_ubatch(n_batch).with_n_threads(self.threads()).with_n_threads_batch(self.threads());
        let mut ctx = {
            let _serial = self.create.lock().unwrap_or_else(|p| p.into_inner());
            let backend = backend(!self.settings.debug_logging)?;
            self.model.new_context(backend, params).map_err(|e| Failure::new(NAR_ERROR_OUT_OF_MEMORY, format!("llama.cpp context of {n_ctx} tokens: {e}")))?
        };
        let failed = |e: &dyn std::fmt::Display| Failure::new(NAR_ERROR_GENERATION_FAILED, format!("llama.cpp: {e}"));
        let mut batch = LlamaBatch::new(n_batch as usize, 1);
        let chunks: Vec<_> = prompt_tokens.chunks(n_batch as usize).collect();
        let mut pos = 0i32;
        for (c, chunk) in chunks.iter().enumerate() {
            batch.clear();
            for (i, t) in chunk.iter().enumerate() {
                let last = c + 1 == chunks.len() && i + 1 == chunk.len();
                batch.add(*t, pos, &[0], last).map_err(|e| failed(&e))?;
                pos += 1;
            }
            ctx.decode(&mut batch).map_err(|e| failed(&e))?;
        }
        let mut sampler = self.sampler(req);
        let mut bytes: Vec<u8> = Vec::new();
        let mut tokens = 0u32;
        let mut stop_reason = NAR_STOP_MAX_TOKENS;
        let mut matched_stop = None;
        let mut text = String::new();
        while tokens < req.max_tokens {
            if CANCEL_EPOCH.load(Ordering::SeqCst) != epoch {
                return Err(Failure::new(NAR_ERROR_CANCELLED, format!("cancelled after {tokens} tokens")));
            }
            if req.timeout.is_some_and(|t| started.elapsed() > t) {
                return Err(Failure::new(NAR_ERROR_TIMEOUT, format!("timed out after {tokens} tokens")));
            }
            let mut token = sampler.sample(&ctx, batch.n_tokens() - 1);
            if vocab.is_eog(token) && tokens < req.prompt.min_tokens {
                // Too short to end yet: the most likely token that does not end the text instead.
                let logits = ctx.get_logits_ith(batch.n_tokens() - 1);
                if let Some(i) = (0..logits.len()).filter(|&i| !vocab.is_eog(LlamaToken::new(i as i32))).max_by(|&a, &b| logits[a].total_cmp(&logits[b])) {
                    token = LlamaToken::new(i as i32);
                }
            }
            if vocab.is_eog(token) {
                stop_reason = NAR_STOP_END_OF_SEQUENCE;
                break;
            }
            bytes.extend(vocab.token_to_piece(token, false, None));
            tokens += 1;
            text = valid_prefix(&bytes);
            if let Some((at, stop)) = first_stop(&text, &req.stops) {
                text.truncate(at);
                matched_stop = Some(stop.to_string());
                stop_reason = NAR_STOP_SEQUENCE;
                break;
            }
            if bytes.len() >= NAR_MAX_RESPONSE {
                text = truncate_at_char(&text, NAR_MAX_RESPONSE - 1);
                break;
            }
            let shown = text.len() - pending_stop_prefix(&text, &req.stops);
            let mut visible = format!("{}{}", req.prompt.opening, &text[..shown]);
            if req.prompt.whole_sentences {
                // A sentence still growing may be cut off at max_tokens: show whole sentences only.
                visible.truncate(last_sentence_end(&visible).unwrap_or(0));
            }
            if req.filter {
                // A word still growing may yet become a blocked one: show whole words only.
                let words = visible.char_indices().rev().find(|(_, c)| !c.is_alphanumeric()).map_or(0, |(i, c)| i + c.len_utf8());
                on_token(&filter(&visible[..words]).0, tokens);
            } else {
                on_token(&visible, tokens);
            }
            batch.clear();
            batch.add(token, pos, &[0], true).map_err(|e| failed(&e))?;
            pos += 1;
            ctx.decode(&mut batch).map_err(|e| failed(&e))?;
        }
        if stop_reason != NAR_STOP_SEQUENCE {
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        let mut text = format!("{}{text}", req.prompt.opening);
        if text.len() >= NAR_MAX_RESPONSE {
            text = truncate_at_char(&text, NAR_MAX_RESPONSE - 1);
        }
        if req.prompt.whole_sentences
            && stop_reason != NAR_STOP_SEQUENCE
            && let Some(end) = last_sentence_end(&text)
        {
            text.truncate(end);
        }
        let (text, filtered) = if req.filter { filter(&text) } else { (text, false) };
        let seconds = started.elapsed().as_secs_f64();
        self.generations.fetch_add(1, Ordering::Relaxed);
        self.tokens.fetch_add(u64::from(tokens), Ordering::Relaxed);
        self.micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.log(&format!("generated {tokens} tokens in {seconds:.3} s (stop reason {stop_reason})"));
        Ok(Output { text, tokens, prompt_tokens: prompt_tokens.len() as u32, seconds, stop_reason, filtered, matched_stop })
    }
}

fn rand_seed() -> u32 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    nanos ^ std::process::id().rotate_left(16) | 1
}

pub fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "")).expect("NULs removed")
}

/// The longest valid UTF-8 prefix (a token may end inside a multi-byte character).
fn valid_prefix(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(e) => String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(),
    }
}

/// The byte offset just after the last sentence end in `text` (`.`, `!` or `?`, with any closing
/// quotes), when what follows is whitespace or nothing.
fn last_sentence_end(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    (0..b.len()).rev().find_map(|i| {
        if !matches!(b[i], b'.' | b'!' | b'?') {
            return None;
        }
        let mut end = i + 1;
        while end < b.len() && matches!(b[end], b'"' | b'\'' | b')') {
            end += 1;
        }
        let rest = &text[end..];
        (rest.is_empty() || rest.starts_with(char::is_whitespace)).then_some(end)
    })
}

fn truncate_at_char(text: &str, max: usize) -> String {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// The earliest stop sequence in `text`: (byte offset, sequence).
fn first_stop<'a>(text: &str, stops: &'a [String]) -> Option<(usize, &'a str)> {
    stops.iter().filter(|s| !s.is_empty()).filter_map(|s| text.find(s.as_str()).map(|at| (at, s.as_str()))).min_by_key(|(at, _)| *at)
}

/// Bytes at the end of `text` that begin some stop sequence and so may not be shown yet.
fn pending_stop_prefix(text: &str, stops: &[String]) -> usize {
    stops.iter().flat_map(|s| (1..s.len()).filter(|&n| s.is_char_boundary(n) && text.ends_with(&s[..n])).max()).max().unwrap_or(0)
}

/// Words the content and profanity filters mask.
const BLOCKED: [&str; 6] = ["damn", "hell", "shit", "fuck", "bastard", "crap"];

/// Masks blocked words (whole words, any case) with asterisks.
pub fn filter(text: &str) -> (String, bool) {
    let mut out = String::with_capacity(text.len());
    let mut filtered = false;
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String, filtered: &mut bool| {
        if BLOCKED.contains(&word.to_lowercase().as_str()) {
            out.push_str(&"*".repeat(word.chars().count()));
            *filtered = true;
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out, &mut filtered);
            out.push(c);
        }
    }
    flush(&mut word, &mut out, &mut filtered);
    (out, filtered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_sequence_prefix_at_the_end_is_held_back() {
        let stops = vec!["END".to_string()];
        assert_eq!(pending_stop_prefix("the EN", &stops), 2);
        assert_eq!(pending_stop_prefix("the E", &stops), 1);
        assert_eq!(pending_stop_prefix("the", &stops), 0);
        assert_eq!(first_stop("a END b", &stops), Some((2, "END")));
    }

    #[test]
    fn the_filter_masks_whole_words_only() {
        assert_eq!(filter("Hell, no: hello"), ("****, no: hello".to_string(), true));
        assert_eq!(filter("shell"), ("shell".to_string(), false));
    }

    #[test]
    fn a_split_character_is_not_shown_until_complete() {
        let snow = "é".as_bytes();
        assert_eq!(valid_prefix(&[b'a', snow[0]]), "a");
        assert_eq!(truncate_at_char("aé", 2), "a");
    }
}
