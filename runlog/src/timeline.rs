//! A run as one self-contained HTML page: an SVG timeline with a lane per
//! peer (down, cut off, leading, term rises, applied index), the network
//! changes and the failure across all lanes, then a legend, the failure's
//! message and the run's last events. Nothing is loaded from anywhere, so
//! the file opens from disk or a mail attachment; hover text comes from
//! SVG `<title>` elements, without JavaScript.

use std::fmt::Write;

use crate::event::{Event, Kind};
use crate::lanes::{end_time, failure, lanes, Lane};

/// Where the lane labels go.
const LEFT: f64 = 50.0;
/// The drawing's width for time.
const PLOT: f64 = 900.0;
/// Where the last applied index of each lane is written.
const RIGHT: f64 = 60.0;
const TOP: f64 = 10.0;
const LANE: f64 = 48.0;
const GAP: f64 = 8.0;
/// The leading bar's place at the top of its lane.
const BAR_TOP: f64 = 4.0;
const BAR: f64 = 14.0;
/// A bar narrower than this has no room for its `T12` label.
const LABEL_ROOM: f64 = 24.0;
/// The table shows only the run's end: what led to the failure.
const TABLE_ROWS: usize = 200;

const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:1em 2em;color:#222}
svg{display:block;max-width:100%;height:auto;font-size:11px}
.band{fill:#f4f4f4}
.name{font-size:13px;font-weight:bold}
.down{fill:#b0b0b0}
.lead text{fill:#fff}
.term{stroke:#222;stroke-width:2}
.applied{fill:none;stroke:#1565c0;stroke-width:1.5}
.applied-label{fill:#1565c0}
.grid{stroke:#e0e0e0}
.net{stroke:#555;stroke-dasharray:4 3}
.failure{stroke:#d00000;stroke-width:3}
.legend span{display:inline-block;width:1.4em;height:.9em;vertical-align:middle;margin:0 .3em 0 1.2em}
.hatch{background:repeating-linear-gradient(45deg,#ffcc80 0 3px,#fff3e0 3px 6px)}
pre{background:#fff0f0;border-left:4px solid #d00000;padding:.5em 1em;white-space:pre-wrap}
table{border-collapse:collapse;font-family:monospace;font-size:12px}
th,td{padding:1px 8px;text-align:left;vertical-align:top}
tbody tr:nth-child(even){background:#f4f4f4}
";

/// The page for a run titled `title` (the test's name, say).
pub fn html(title: &str, events: &[Event]) -> String {
    let title = escape(title);
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
    );
    page.push_str(&svg(events));
    page.push_str(LEGEND);
    if let Some((t, message)) = failure(events) {
        let _ = write!(
            page,
            "<section id=\"failure\">\n<h2>Failed at {t:.3} s</h2>\n<pre>{}</pre>\n</section>\n",
            escape(message)
        );
    }
    page.push_str(&table(events));
    page.push_str("</body>\n</html>\n");
    page
}

const LEGEND: &str = "<p class=\"legend\">\
<span style=\"background:#b0b0b0\"></span>down (crashed)\
<span class=\"hatch\"></span>cut off the network\
<span style=\"background:hsl(137,65%,42%)\"></span>leading (a colour per term, labelled T5)\
<span style=\"background:#222;width:2px\"></span>the peer's term rises (hover for it)\
<span style=\"border-top:2px solid #1565c0;height:0\"></span>applied index (its last value on the right)\
<span style=\"border-left:2px dashed #555;width:0\"></span>network change\
<span style=\"background:#d00000;width:3px\"></span>failure (click it for the message)\
</p>\n";

/// The timeline: lanes, the time axis, network changes and the failure.
fn svg(events: &[Event]) -> String {
    let lanes = lanes(events);
    // A run of no time still gets an axis to draw on.
    let end = end_time(events);
    let span = if end > 0.0 { end } else { 1.0 };
    let x = |t: f64| LEFT + t.clamp(0.0, span) / span * PLOT;
    let bottom = TOP + lanes.len() as f64 * (LANE + GAP);
    let (width, height) = (LEFT + PLOT + RIGHT, bottom + 24.0);
    let mut svg = format!(
        "<svg viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" \
         role=\"img\" aria-label=\"timeline of the run\">\n<defs><pattern id=\"hatch\" \
         width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fff3e0\"/>\
         <rect width=\"3\" height=\"6\" fill=\"#ffcc80\"/></pattern></defs>\n"
    );
    let step = tick_step(span);
    let mut k = 0;
    // The small allowance keeps the last tick when `span` is a multiple.
    while k as f64 * step <= span * (1.0 + 1e-9) {
        let t = k as f64 * step;
        let label = if step < 1.0 {
            format!("{t:.1}")
        } else {
            format!("{t:.0}")
        };
        let _ = writeln!(
            svg,
            "<line class=\"grid\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{TOP}\" y2=\"{bottom}\"/>\
             <text x=\"{0:.1}\" y=\"{1}\" text-anchor=\"middle\">{label} s</text>",
            x(t),
            bottom + 14.0
        );
        k += 1;
    }
    let highest = lanes
        .iter()
        .filter_map(|l| l.applied.last().map(|&(_, i)| i))
        .max()
        .unwrap_or(0);
    for (peer, lane) in lanes.iter().enumerate() {
        draw_lane(&mut svg, peer, lane, highest, &x, end);
    }
    for event in events {
        if let Kind::Network { text } = &event.kind {
            let _ = writeln!(
                svg,
                "<line class=\"net\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{TOP}\" y2=\"{bottom}\">\
                 <title>network at {1:.3} s: {2}</title></line>",
                x(event.t),
                event.t,
                escape(text)
            );
        }
    }
    if let Some((t, message)) = failure(events) {
        let _ = writeln!(
            svg,
            "<a href=\"#failure\"><line class=\"failure\" x1=\"{0:.1}\" x2=\"{0:.1}\" \
             y1=\"{TOP}\" y2=\"{bottom}\"><title>FAILED at {t:.3} s: {1}</title></line></a>",
            x(t),
            escape(message)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// One peer's band, drawn from its [`Lane`]; `highest` is the highest
/// index any peer applied, so the lanes' applied lines compare.
fn draw_lane(
    svg: &mut String,
    peer: usize,
    lane: &Lane,
    highest: u64,
    x: &impl Fn(f64) -> f64,
    end: f64,
) {
    let top = TOP + peer as f64 * (LANE + GAP);
    let mid = top + LANE / 2.0;
    let _ = writeln!(
        svg,
        "<g class=\"lane\" id=\"lane-S{peer}\">\n<rect class=\"band\" x=\"{LEFT}\" y=\"{top}\" \
         width=\"{PLOT}\" height=\"{LANE}\"/><text class=\"name\" x=\"{0}\" y=\"{1}\" \
         text-anchor=\"end\">S{peer}</text>",
        LEFT - 8.0,
        mid + 4.0
    );
    let area = |from: f64, to: f64, class: &str, fill: &str, what: &str| {
        format!(
            "<rect class=\"{class}\" x=\"{:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{LANE}\"{fill}>\
             <title>S{peer} {what} from {from:.3} to {to:.3} s</title></rect>\n",
            x(from),
            x(to) - x(from)
        )
    };
    for &(from, to) in &lane.down {
        svg.push_str(&area(from, to, "down", "", "down"));
    }
    for &(from, to) in &lane.cut_off {
        svg.push_str(&area(from, to, "cut", " fill=\"url(#hatch)\"", "cut off"));
    }
    for &(from, to, term) in &lane.leading {
        let (left, width) = (x(from), x(to) - x(from));
        let _ = write!(
            svg,
            "<g class=\"lead\"><rect x=\"{left:.1}\" y=\"{0}\" width=\"{width:.1}\" \
             height=\"{BAR}\" fill=\"{1}\"><title>S{peer} leads in term {term} from {from:.3} \
             to {to:.3} s</title></rect>",
            top + BAR_TOP,
            term_colour(term)
        );
        if width >= LABEL_ROOM {
            let _ = write!(
                svg,
                "<text x=\"{0:.1}\" y=\"{1}\">T{term}</text>",
                left + 3.0,
                top + BAR_TOP + BAR - 3.0
            );
        }
        svg.push_str("</g>\n");
    }
    for &(t, term) in &lane.terms {
        let _ = writeln!(
            svg,
            "<line class=\"term\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1}\" y2=\"{2}\">\
             <title>S{peer} term {term} at {t:.3} s</title></line>",
            x(t),
            top + LANE - 8.0,
            top + LANE
        );
    }
    if let (Some(&(_, last)), true) = (lane.applied.last(), highest > 0) {
        // Below the leading bar, with room at the bottom for the term ticks.
        let (low, high) = (top + LANE - 2.0, top + BAR_TOP + BAR + 4.0);
        let y = |index: u64| low - index as f64 / highest as f64 * (low - high);
        let mut points = format!("{LEFT:.1},{:.1}", y(0));
        let mut previous = 0;
        for (px, index) in per_pixel(&lane.applied, x) {
            let _ = write!(
                points,
                " {px:.1},{:.1} {px:.1},{:.1}",
                y(previous),
                y(index)
            );
            previous = index;
        }
        let _ = writeln!(
            svg,
            "<polyline class=\"applied\" points=\"{points} {0:.1},{1:.1}\"><title>S{peer} \
             applied up to {last}</title></polyline><text class=\"applied-label\" x=\"{2}\" \
             y=\"{1:.1}\">{last}</text>",
            x(end),
            y(last),
            LEFT + PLOT + 4.0
        );
    }
    svg.push_str("</g>\n");
}

/// The applied steps with at most one per pixel (the last in it): a long
/// run's thousands of entries would otherwise make the page huge.
fn per_pixel(applied: &[(f64, u64)], x: &impl Fn(f64) -> f64) -> Vec<(f64, u64)> {
    let mut steps: Vec<(f64, u64)> = Vec::new();
    for &(t, index) in applied {
        let px = x(t).round();
        match steps.last_mut() {
            Some(last) if last.0 == px => last.1 = index,
            _ => steps.push((px, index)),
        }
    }
    steps
}

/// The smallest round step that gives at most ten ticks over `span`.
fn tick_step(span: f64) -> f64 {
    const STEPS: [f64; 16] = [
        0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0,
        3600.0,
    ];
    STEPS
        .into_iter()
        .find(|step| span / step <= 10.0)
        .unwrap_or(3600.0)
}

/// A colour per term; the golden angle keeps consecutive terms apart.
fn term_colour(term: u64) -> String {
    format!("hsl({},65%,42%)", term * 137 % 360)
}

/// The table of the run's last events, without the State reports (the
/// harness asks every peer often, so they would crowd out the rest).
fn table(events: &[Event]) -> String {
    let kept: Vec<&Event> = events
        .iter()
        .filter(|e| !matches!(e.kind, Kind::State { .. }))
        .collect();
    let shown = &kept[kept.len().saturating_sub(TABLE_ROWS)..];
    let mut table = format!(
        "<h2>The last {} events</h2>\n<p>of {} (the peers' reports of their state are left \
         out)</p>\n<table>\n<thead><tr><th>time</th><th>peer</th><th>term</th><th>kind</th>\
         <th>text</th></tr></thead>\n<tbody>\n",
        shown.len(),
        kept.len()
    );
    for event in shown {
        let peer = event.peer.map_or(String::new(), |p| format!("S{p}"));
        let term = event.term.map_or(String::new(), |t| t.to_string());
        let (kind, text) = words(&event.kind);
        let _ = writeln!(
            table,
            "<tr><td>{:.3}</td><td>{peer}</td><td>{term}</td><td>{kind}</td><td>{}</td></tr>",
            event.t,
            escape(&text)
        );
    }
    table.push_str("</tbody>\n</table>\n");
    table
}

/// An event's kind and what it says, for the table.
fn words(kind: &Kind) -> (&'static str, String) {
    let of_term = |t: &Option<u64>| t.map_or(String::new(), |t| format!(" (T{t})"));
    match kind {
        Kind::Begin { title } => ("begin", title.clone()),
        Kind::Log { level, topic, text } => ("log", format!("{level} {topic}: {text}")),
        Kind::Output { text } => ("output", text.clone()),
        Kind::State { leader } => (
            "state",
            if *leader { "leader" } else { "not leader" }.into(),
        ),
        Kind::Applied { index, entry_term } => {
            ("applied", format!("{index}{}", of_term(entry_term)))
        }
        Kind::Snapshot { index, entry_term } => {
            ("snapshot", format!("to {index}{}", of_term(entry_term)))
        }
        Kind::Started => ("started", String::new()),
        Kind::Crashed { cleanup } => ("crashed", if *cleanup { "cleanup" } else { "" }.into()),
        Kind::Connected => ("connected", String::new()),
        Kind::Disconnected => ("disconnected", String::new()),
        Kind::Network { text } => ("network", text.clone()),
        Kind::Failed { message } => ("failed", message.clone()),
    }
}

/// `text` safe inside HTML and SVG, in elements and in quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lanes::tests::{at, global};

    fn log(t: f64, peer: usize, term: u64, text: &str) -> Event {
        Event {
            term: Some(term),
            ..at(
                t,
                peer,
                Kind::Log {
                    level: "DEBUG".into(),
                    topic: "raft::election".into(),
                    text: text.into(),
                },
            )
        }
    }

    fn failed(t: f64, message: &str) -> Event {
        global(
            t,
            Kind::Failed {
                message: message.into(),
            },
        )
    }

    /// A run of `peers` peers over `seconds`, of `count` events: mostly log
    /// lines, with state reports, applies, crashes, cuts and network
    /// changes among them, ending in a failure.
    fn run(peers: usize, seconds: f64, count: usize) -> Vec<Event> {
        let mut events = vec![global(
            0.0,
            Kind::Begin {
                title: "Test (2C): Figure 8 (unreliable)".into(),
            },
        )];
        for i in 0..count - 2 {
            let t = seconds * i as f64 / count as f64;
            let peer = i % peers;
            let term = 1 + (t / 2.0) as u64;
            let kind = match i % 50 {
                0 | 25 => Kind::State {
                    leader: peer == term as usize % peers,
                },
                1..=9 => Kind::Applied {
                    index: i as u64 / peers as u64,
                    entry_term: Some(term),
                },
                // The same peer comes back (i % peers is the same).
                10 if i % 700 == 10 => Kind::Crashed { cleanup: false },
                10 if i % 700 == 360 => Kind::Started,
                12 if i % 900 == 12 => Kind::Disconnected,
                12 if i % 900 == 462 => Kind::Connected,
                14 if i % 1000 == 14 => Kind::Network {
                    text: "long reordering".into(),
                },
                _ => Kind::Log {
                    level: "DEBUG".into(),
                    topic: "raft::append".into(),
                    text: format!(
                        "sends AppendEntries to S{} for index {i}",
                        (peer + 1) % peers
                    ),
                },
            };
            let peer = (!matches!(kind, Kind::Network { .. })).then_some(peer);
            events.push(Event {
                t,
                peer,
                term: peer.map(|_| term),
                kind,
            });
        }
        events.push(failed(seconds, "apply error: commit index=812 server=3"));
        events
    }

    #[test]
    fn the_page_is_one_self_contained_document() {
        let page = html("Figure 8", &run(3, 5.0, 500));
        assert!(page.starts_with("<!DOCTYPE html>\n<html"), "{page}");
        assert!(page.ends_with("</html>\n"));
        for outside in ["http://", "https://", "src=", "<script", "<link"] {
            assert!(!page.contains(outside), "{outside} in the page");
        }
        assert_eq!(page.matches("<svg").count(), 1);
        assert!(page.contains("<style>"));
    }

    #[test]
    fn every_peer_has_a_lane() {
        let events = [log(0.5, 0, 1, "a"), log(1.0, 3, 1, "b")];
        let page = html("t", &events);
        for peer in 0..4 {
            assert!(page.contains(&format!("<g class=\"lane\" id=\"lane-S{peer}\">")));
            assert!(page.contains(&format!(">S{peer}</text>")));
        }
        assert!(!page.contains("lane-S4"));
    }

    #[test]
    fn the_lanes_show_down_cut_off_leading_terms_and_applied() {
        let events = [
            Event {
                term: Some(5),
                ..at(0.0, 1, Kind::State { leader: true })
            },
            at(
                4.0,
                1,
                Kind::Applied {
                    index: 12,
                    entry_term: Some(5),
                },
            ),
            at(5.0, 1, Kind::Crashed { cleanup: false }),
            at(6.0, 1, Kind::Started),
            at(7.0, 0, Kind::Disconnected),
            log(3.21, 0, 4, "x"),
            at(10.0, 0, Kind::Connected),
        ];
        let page = html("t", &events);
        assert!(page.contains("<title>S1 leads in term 5 from 0.000 to 5.000 s</title>"));
        assert!(page.contains(">T5</text>"), "a wide bar is labelled");
        assert!(page.contains("<title>S1 down from 5.000 to 6.000 s</title>"));
        assert!(page.contains("fill=\"url(#hatch)\"><title>S0 cut off from 7.000 to 10.000 s"));
        assert!(page.contains("<title>S0 term 4 at 3.210 s</title>"));
        assert!(page.contains("<title>S1 applied up to 12</title>"));
        assert!(page.contains("class=\"applied-label\""));
        assert!(page.contains(">12</text>"));
    }

    #[test]
    fn the_axis_has_round_ticks() {
        assert_eq!(tick_step(0.5), 0.1);
        assert_eq!(tick_step(1.5), 0.2);
        assert_eq!(tick_step(10.0), 1.0);
        assert_eq!(tick_step(20.0), 2.0);
        assert_eq!(tick_step(45.0), 5.0);
        assert_eq!(tick_step(250.0), 30.0);
        let page = html("t", &[log(0.0, 0, 1, "a"), log(20.0, 0, 1, "b")]);
        for label in [">0 s<", ">2 s<", ">18 s<", ">20 s<"] {
            assert!(page.contains(label), "{label}");
        }
        assert!(!page.contains(">22 s<"));
    }

    #[test]
    fn network_changes_cross_every_lane() {
        let events = [
            log(0.0, 0, 1, "a"),
            global(
                1.5,
                Kind::Network {
                    text: "partition {0} {1, 2}".into(),
                },
            ),
            log(3.0, 2, 1, "b"),
        ];
        let page = html("t", &events);
        assert!(page.contains("<title>network at 1.500 s: partition {0} {1, 2}</title>"));
        assert_eq!(page.matches("<line class=\"net\"").count(), 1);
    }

    #[test]
    fn the_failure_is_a_red_line_linked_to_its_message() {
        let events = [log(0.0, 0, 1, "a"), failed(2.0, "two leaders\nin term 3")];
        let page = html("t", &events);
        assert!(page.contains("<a href=\"#failure\"><line class=\"failure\""));
        assert!(page.contains("<section id=\"failure\">"));
        assert!(page.contains("<pre>two leaders\nin term 3</pre>"));
        let page = html("t", &events[..1]);
        assert!(!page.contains("<line class=\"failure\"") && !page.contains("id=\"failure\""));
    }

    #[test]
    fn text_from_events_is_escaped() {
        let events = [
            log(0.0, 0, 1, "<script>alert(\"x\")</script> & more"),
            failed(1.0, "got <nil> & \"3\""),
        ];
        let page = html("a <b> & \"c\"", &events);
        assert!(!page.contains("<script>") && !page.contains("<nil>") && !page.contains("<b>"));
        assert!(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more"));
        assert!(page.contains("got &lt;nil&gt; &amp; &quot;3&quot;"));
        assert!(page.contains("<title>a &lt;b&gt; &amp; &quot;c&quot;</title>"));
        assert!(page.contains("<h1>a &lt;b&gt; &amp; &quot;c&quot;</h1>"));
    }

    #[test]
    fn the_table_holds_the_last_200_events_without_state_reports() {
        let events = run(3, 10.0, 1000);
        let page = html("t", &events);
        let rows: Vec<&str> = page.lines().filter(|l| l.starts_with("<tr><td>")).collect();
        assert_eq!(rows.len(), TABLE_ROWS);
        assert!(rows.iter().all(|r| !r.contains("<td>state</td>")));
        assert!(rows.last().unwrap().contains("<td>failed</td>"));
        let few = html("t", &events[..10]);
        let rows = few.lines().filter(|l| l.starts_with("<tr><td>")).count();
        let states = events[..10]
            .iter()
            .filter(|e| matches!(e.kind, Kind::State { .. }))
            .count();
        assert_eq!(rows, 10 - states);
    }

    #[test]
    fn a_twenty_second_run_of_5000_events_is_small() {
        let events = run(5, 20.0, 5000);
        assert_eq!(events.len(), 5000);
        let page = html("Test (2C): Figure 8 (unreliable)", &events);
        eprintln!(
            "a 5-peer 20-second run of {} events: {} bytes of HTML",
            events.len(),
            page.len()
        );
        assert!(page.len() < 200_000, "{} bytes", page.len());
        assert!(page.contains("<line class=\"failure\""));
        assert!(page.contains("class=\"down\"") && page.contains("url(#hatch)"));
        assert!(page.contains("<g class=\"lead\">") && page.contains("class=\"net\""));
    }
}
