//! An SVG chart of a run: accepted and settled payments per second, and the
//! p99 accept latency per second on a second axis. Plain SVG, no
//! dependencies: it opens in any browser.

use std::fmt::Write;

use super::stats::Second;

const W: f64 = 900.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 70.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().find(|s| s * magnitude >= v).unwrap_or(10.0);
    step * magnitude
}

/// `latency` names what each second's `accept_p99_ms` measured.
pub fn svg(title: &str, seconds: &[Second], latency: &str) -> String {
    let n = seconds.len().max(2) as f64 - 1.0;
    let rate_max = nice_max(seconds.iter().map(|s| s.accepted.max(s.settled) as f64).fold(0.0, f64::max));
    let latency_max = nice_max(seconds.iter().map(|s| s.accept_p99_ms).fold(0.0, f64::max));
    let x = |i: usize| LEFT + (W - LEFT - RIGHT) * i as f64 / n;
    let y = |v: f64, max: f64| TOP + (H - TOP - BOTTOM) * (1.0 - v / max);
    let line = |value: &dyn Fn(&Second) -> f64, max: f64| {
        seconds
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{:.1},{:.1}", x(i), y(value(s), max)))
            .collect::<Vec<_>>()
            .join(" ")
    };

    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{LEFT}" y="22" font-size="15">{title}</text>
"##
    );
    for i in 0..=4 {
        let f = f64::from(i) / 4.0;
        let yy = TOP + (H - TOP - BOTTOM) * (1.0 - f);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{:.0}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.0}" y="{:.1}" text-anchor="end">{:.0}</text><text x="{:.0}" y="{:.1}">{:.1} ms</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            yy + 4.0,
            rate_max * f,
            W - RIGHT + 6.0,
            yy + 4.0,
            latency_max * f
        );
    }
    let _ = writeln!(
        out,
        r##"<text x="{:.0}" y="{:.0}" text-anchor="middle">seconds since the first request</text>
<text x="14" y="{:.0}" transform="rotate(-90 14 {:.0})" text-anchor="middle">payments per second</text>
<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{}"/>
<polyline fill="none" stroke="#2ca02c" stroke-width="2" points="{}"/>
<polyline fill="none" stroke="#d62728" stroke-width="1.5" stroke-dasharray="4 3" points="{}"/>
<text x="{LEFT}" y="{:.0}" fill="#1f77b4">accepted/s</text><text x="{:.0}" y="{:.0}" fill="#2ca02c">settled/s</text><text x="{:.0}" y="{:.0}" fill="#d62728">{latency} (right axis)</text>"##,
        (LEFT + W - RIGHT) / 2.0,
        H - 12.0,
        H / 2.0,
        H / 2.0,
        line(&|s| s.accepted as f64, rate_max),
        line(&|s| s.settled as f64, rate_max),
        line(&|s| s.accept_p99_ms, latency_max),
        H - 28.0,
        LEFT + 110.0,
        H - 28.0,
        LEFT + 210.0,
        H - 28.0,
    );
    for i in (0..seconds.len()).step_by((seconds.len() / 10).max(1)) {
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.0}" text-anchor="middle">{i}</text>"##,
            x(i),
            H - BOTTOM + 16.0
        );
    }
    out.push_str("</svg>\n");
    out
}
