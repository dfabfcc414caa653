//! The RSS series of a leak check as a small SVG line chart, for a person to look at.

use crate::memory::LeakVerdict;

pub fn svg(v: &LeakVerdict) -> String {
    let (w, h, pad) = (800.0, 360.0, 60.0);
    let xs: Vec<f64> = v.samples.iter().map(|s| s.iteration as f64).collect();
    let ys: Vec<f64> = v.samples.iter().map(|s| s.rss_bytes as f64 / 1_048_576.0).collect();
    let (x0, x1) = (xs.first().copied().unwrap_or(0.0), xs.last().copied().unwrap_or(1.0).max(1.0));
    let y0 = ys.iter().copied().fold(f64::INFINITY, f64::min).min(ys.first().copied().unwrap_or(0.0));
    let y1 = ys.iter().copied().fold(0.0, f64::max);
    let (y0, y1) = if y1 - y0 < 1.0 { (y0 - 0.5, y0 + 0.5) } else { (y0, y1) };
    let px = |x: f64| pad + (x - x0) / (x1 - x0).max(1e-9) * (w - 2.0 * pad);
    let py = |y: f64| h - pad - (y - y0) / (y1 - y0) * (h - 2.0 * pad);
    let points: Vec<String> = xs.iter().zip(&ys).map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y))).collect();
    let warm = px(v.warmup_iterations as f64);
    let verdict = format!("{} — {:.2} bytes/token after warm-up (bound {})", if v.valid { "no leak" } else { "LEAK" }, v.growth_bytes_per_token, v.bound);
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{pad}" y="20" font-size="14">{title}</text>
<text x="{pad}" y="38">{verdict}</text>
<line x1="{pad}" y1="{yb}" x2="{xr}" y2="{yb}" stroke="black"/>
<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{yb}" stroke="black"/>
<line x1="{warm:.1}" y1="{pad}" x2="{warm:.1}" y2="{yb}" stroke="#bbb" stroke-dasharray="4 4"/>
<text x="{warm:.1}" y="{wl}" fill="#888">end of warm-up</text>
<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{points}"/>
<text x="{pad}" y="{xl}">iteration {x0} .. {x1}</text>
<text x="4" y="{pad}">{y1:.1} MiB</text>
<text x="4" y="{yb}">{y0:.1} MiB</text>
</svg>
"##,
        title = v.what,
        yb = h - pad,
        xr = w - pad,
        wl = pad - 4.0,
        xl = h - pad + 20.0,
        points = points.join(" "),
    )
}
