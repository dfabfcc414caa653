//! A slow or lossy link: a TCP proxy between two services whose quality a test changes while
//! connections stay open — latency with jitter, a bandwidth cap, loss, and a cut.
//!
//! Why a proxy and not `tc netem`: the kernels these suites run on (this machine's included) may be
//! built without `sch_netem`, and netem needs NET_ADMIN in the container's namespace; the proxy
//! needs neither, as Toxiproxy does it. Loss is modelled the way TCP lives it: a lost segment is
//! retransmitted after a timeout, so a "lost" chunk arrives [`RETRANSMIT`] late, in order, and the
//! stream is never corrupted. A cut drops every open connection and refuses new ones.
//!
//! It runs in the test process on the stack network's gateway address (never routed off the
//! machine), forwarding to the peer's published port on 127.0.0.1; the service is configured to
//! reach its peer at [`LinkProxy::host_port`] on that gateway.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::Result;

/// What TCP waits before it resends a lost segment (Linux's minimum RTO).
pub const RETRANSMIT: Duration = Duration::from_millis(200);
const CHUNK: usize = 16 * 1024;

/// The quality of a link, in each direction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quality {
    pub latency: Duration,
    /// Added to the latency: uniform in `0..=jitter`.
    pub jitter: Duration,
    /// The chance that a chunk is lost once (and arrives [`RETRANSMIT`] later).
    pub loss: f64,
    /// A bandwidth cap, in bytes per second.
    pub bytes_per_second: Option<u64>,
}

impl Quality {
    pub const PERFECT: Quality = Quality { latency: Duration::ZERO, jitter: Duration::ZERO, loss: 0.0, bytes_per_second: None };

    /// A bad WAN link: 40–80 ms each way, 5 % loss, 256 KiB/s.
    pub const SLOW_AND_LOSSY: Quality = Quality { latency: Duration::from_millis(40), jitter: Duration::from_millis(40), loss: 0.05, bytes_per_second: Some(256 * 1024) };
}

struct Shared {
    quality: Mutex<Quality>,
    cut: AtomicBool,
    upstream: Mutex<SocketAddr>,
    seed: u64,
    connections: AtomicU64,
    /// Open connections, to drop on a cut.
    open: Mutex<Vec<tokio::task::AbortHandle>>,
}

/// A proxy for one link; stops (and drops its connections) when dropped.
pub struct LinkProxy {
    listen: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for LinkProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkProxy").field("listen", &self.listen).field("upstream", &self.upstream()).finish()
    }
}

impl LinkProxy {
    /// Listens on `bind` (the stack's gateway) and forwards to `upstream`. `seed` makes the jitter
    /// and loss of each connection a reproducible sequence.
    pub async fn start(bind: IpAddr, upstream: SocketAddr, seed: u64) -> Result<LinkProxy> {
        let listener = TcpListener::bind((bind, 0)).await?;
        let listen = listener.local_addr()?;
        let shared =
            Arc::new(Shared { quality: Mutex::new(Quality::PERFECT), cut: AtomicBool::new(false), upstream: Mutex::new(upstream), seed, connections: AtomicU64::new(0), open: Mutex::new(Vec::new()) });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if s.cut.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let n = s.connections.fetch_add(1, Ordering::Relaxed);
                let conn = tokio::spawn(serve(client, s.clone(), n));
                let mut open = s.open.lock().expect("open connections");
                open.retain(|h| !h.is_finished());
                open.push(conn.abort_handle());
            }
        });
        Ok(LinkProxy { listen, shared, task })
    }

    /// The port a container reaches the proxy on, at the stack's gateway address.
    pub fn host_port(&self) -> u16 {
        self.listen.port()
    }

    pub fn address(&self) -> SocketAddr {
        self.listen
    }

    pub fn upstream(&self) -> SocketAddr {
        *self.shared.upstream.lock().expect("upstream")
    }

    /// Where new connections go (after the peer restarted on a new published port).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *self.shared.upstream.lock().expect("upstream") = upstream;
    }

    /// Applies to every chunk from now on, on open connections too.
    pub fn set_quality(&self, quality: Quality) {
        *self.shared.quality.lock().expect("quality") = quality;
    }

    pub fn quality(&self) -> Quality {
        *self.shared.quality.lock().expect("quality")
    }

    /// Drops every open connection and refuses new ones until [`LinkProxy::restore`].
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        for h in self.shared.open.lock().expect("open connections").drain(..) {
            h.abort();
        }
    }

    /// Accepts connections again, at perfect quality.
    pub fn restore(&self) {
        self.set_quality(Quality::PERFECT);
        self.shared.cut.store(false, Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        self.task.abort();
        for h in self.shared.open.lock().map(|mut o| std::mem::take(&mut *o)).unwrap_or_default() {
            h.abort();
        }
    }
}

async fn serve(client: TcpStream, shared: Arc<Shared>, n: u64) {
    let upstream = *shared.upstream.lock().expect("upstream");
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let seed = shared.seed.wrapping_add(2 * n);
    let up = pump(cr, sw, shared.clone(), seed);
    let down = pump(sr, cw, shared, seed + 1);
    // Either direction ending ends the connection (as a proxy's would).
    tokio::select! { () = up => {}, () = down => {} }
}

/// Reads chunks from `from` and delivers each to `to` at its due time: read time + latency +
/// jitter (+ a retransmission if lost), never before the previous chunk, then paced to the cap.
async fn pump(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, shared: Arc<Shared>, seed: u64) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = {
        let shared = shared.clone();
        async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = match from.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let q = *shared.quality.lock().expect("quality");
                let mut delay = q.latency;
                if !q.jitter.is_zero() {
                    delay += Duration::from_micros(rng.random_range(0..=q.jitter.as_micros() as u64));
                }
                if q.loss > 0.0 && rng.random_bool(q.loss.min(1.0)) {
                    delay += RETRANSMIT;
                }
                if tx.send((Instant::now() + delay, buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        }
    };
    let writer = async move {
        let mut due = Instant::now();
        while let Some((at, bytes)) = rx.recv().await {
            due = due.max(at);
            tokio::time::sleep_until(due).await;
            if to.write_all(&bytes).await.is_err() {
                break;
            }
            if let Some(rate) = shared.quality.lock().expect("quality").bytes_per_second.filter(|r| *r > 0) {
                due = Instant::now() + Duration::from_secs_f64(bytes.len() as f64 / rate as f64);
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
