//! An account's statement as an SVG chart: its balance after each ledger
//! entry, oldest to newest, drawn on the server. Pure: points in, markup
//! out, so the scaling is tested without a browser and the page needs no
//! script (the Content-Security-Policy allows none).

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use crate::domain::{Currency, SignedMoney};

/// The chart's size in SVG user units; the stylesheet scales it to the page.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 200.0;
/// Room for the axis labels.
const PAD: f64 = 24.0;

/// One balance, after the entry made at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub at: DateTime<Utc>,
    /// Minor units.
    pub balance: i64,
}

/// Where each point is drawn: x by its place in the list (entries come in
/// bursts, so by time most would pile up at one edge), y by its balance
/// between the lowest and highest shown (zero included, so a balance
/// near nothing looks it).
pub fn coordinates(points: &[Point]) -> Vec<(f64, f64)> {
    let lowest = points.iter().map(|p| p.balance).min().unwrap_or(0).min(0);
    let highest = points.iter().map(|p| p.balance).max().unwrap_or(0);
    let span = (highest - lowest).max(1) as f64;
    let steps = (points.len().max(2) - 1) as f64;
    points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let x = PAD + (WIDTH - 2.0 * PAD) * (i as f64 / steps);
            let y = HEIGHT - PAD - (HEIGHT - 2.0 * PAD) * ((p.balance - lowest) as f64 / span);
            ((x * 10.0).round() / 10.0, (y * 10.0).round() / 10.0)
        })
        .collect()
}

/// The chart of `points` (oldest first), with the first and last balance
/// and time written on it.
pub fn statement(points: &[Point], currency: Currency) -> Markup {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return html! { p class="empty" { "No ledger entries yet." } };
    };
    let line: Vec<String> = coordinates(points).iter().map(|(x, y)| format!("{x},{y}")).collect();
    let money =
        |minor: i64| SignedMoney::from_minor(minor, currency).map_or_else(String::new, |m| m.to_string());
    html! {
        svg class="chart" viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" xmlns="http://www.w3.org/2000/svg"
            aria-label=(format!("Balance over the last {} entries", points.len())) {
            title { "Balance after each of the last " (points.len()) " entries" }
            line class="axis" x1=(PAD) y1=(HEIGHT - PAD) x2=(WIDTH - PAD) y2=(HEIGHT - PAD) {}
            polyline class="balance" points=(line.join(" ")) {}
            text class="label" x=(PAD) y=(HEIGHT - 6.0) { (first.at.format("%Y-%m-%d %H:%M:%S")) }
            text class="label end" x=(WIDTH - PAD) y=(HEIGHT - 6.0) { (last.at.format("%Y-%m-%d %H:%M:%S")) }
            text class="label" x=(PAD) y=(14.0) { "first " (money(first.balance)) }
            text class="label end" x=(WIDTH - PAD) y=(14.0) { "now " (money(last.balance)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn points(balances: &[i64]) -> Vec<Point> {
        balances
            .iter()
            .enumerate()
            .map(|(i, b)| Point { at: Utc.timestamp_opt(1_800_000_000 + i as i64, 0).unwrap(), balance: *b })
            .collect()
    }

    #[test]
    fn balances_span_the_chart_from_zero_to_the_highest() {
        let xy = coordinates(&points(&[10_000, 5_000, 0, 2_500]));
        assert_eq!(xy.first(), Some(&(PAD, PAD)), "the highest balance at the top, first at the left");
        assert_eq!(xy[2], (418.7, HEIGHT - PAD), "zero on the axis, two thirds along (rounded to 0.1)");
        assert_eq!(xy[1].1, HEIGHT / 2.0);
        assert_eq!(xy.last().map(|p| p.0), Some(WIDTH - PAD), "the newest at the right");
    }

    #[test]
    fn a_flat_or_single_balance_is_drawn_without_dividing_by_zero() {
        let one = coordinates(&points(&[0]));
        assert_eq!(one, vec![(PAD, HEIGHT - PAD)]);
        let flat = coordinates(&points(&[300, 300]));
        assert!(flat.iter().all(|(x, y)| x.is_finite() && y.is_finite()));
        assert_eq!(flat[0].1, PAD, "a positive flat balance at the top, above zero");
    }

    #[test]
    fn the_chart_is_an_svg_with_its_line_and_labels() {
        let usd = Currency::parse("USD").unwrap();
        let svg = statement(&points(&[10_000, 7_500]), usd).into_string();
        assert!(svg.starts_with("<svg class=\"chart\""), "{svg}");
        assert!(svg.contains("<polyline class=\"balance\" points=\"24,24 616,"), "{svg}");
        assert!(svg.contains("now 75.00"), "{svg}");
        assert_eq!(statement(&[], usd).into_string(), "<p class=\"empty\">No ledger entries yet.</p>");
    }
}
