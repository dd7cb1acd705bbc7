//! The terminal view of a run: one column per peer, time on the left, each
//! event in its peer's column, in the style of the "dslogs" scripts.

use crate::event::{Event, Kind};

/// Which events to show. `None` in a field lets everything through.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Only these peers' events (events of no peer are always shown).
    pub peers: Option<Vec<usize>>,
    /// Only log lines of these topics: a topic is selected by its full
    /// name or by its last parts (`election` selects `raft::election`).
    /// Other events are kept as landmarks.
    pub topics: Option<Vec<String>>,
    /// Only events at or after this time (seconds).
    pub from: Option<f64>,
    /// Only events at or before this time (seconds).
    pub to: Option<f64>,
}

impl Filter {
    fn admits(&self, event: &Event) -> bool {
        if self.from.is_some_and(|from| event.t < from) || self.to.is_some_and(|to| event.t > to) {
            return false;
        }
        if let (Some(peers), Some(peer)) = (&self.peers, event.peer) {
            if !peers.contains(&peer) {
                return false;
            }
        }
        match (&self.topics, &event.kind) {
            (Some(topics), Kind::Log { topic, .. }) => topics.iter().any(|given| {
                topic == given
                    || topic
                        .strip_suffix(given.as_str())
                        .is_some_and(|head| head.ends_with("::"))
            }),
            _ => true,
        }
    }
}

/// How the terminal looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The terminal's width in characters.
    pub width: usize,
    /// Whether to colour with ANSI escape codes.
    pub colour: bool,
}

/// `  12.345`: seconds, to the millisecond.
const TIME_WIDTH: usize = 8;
const SEPARATOR: &str = " | ";
/// Narrower columns would wrap most lines into a tall, unreadable stack.
const MIN_COLUMN: usize = 20;

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const BOLD_RED: &str = "\x1b[1;31m";
const BOLD_YELLOW: &str = "\x1b[1;33m";
const BOLD: &str = "\x1b[1m";
/// 256-colour codes readable on dark and light backgrounds, without the
/// reds and yellows that mean errors and warnings.
const PALETTE: [u8; 12] = [33, 37, 40, 70, 75, 99, 135, 141, 166, 170, 208, 30];

/// The events through `filter`, as text for a terminal of `layout`.
pub fn render(events: &[Event], filter: &Filter, layout: &Layout) -> String {
    let shown: Vec<&Event> = events.iter().filter(|e| filter.admits(e)).collect();
    if shown.is_empty() {
        return "no events match\n".into();
    }
    let mut peers: Vec<usize> = shown.iter().filter_map(|e| e.peer).collect();
    peers.sort_unstable();
    peers.dedup();
    let width = column_width(layout.width, peers.len());
    // Lines of no peer use the whole row after the time and a space.
    let span = if peers.is_empty() {
        layout.width.saturating_sub(TIME_WIDTH + 1).max(MIN_COLUMN)
    } else {
        peers.len() * (SEPARATOR.len() + width) - 1
    };
    let style = |code: &str| {
        if layout.colour {
            code.to_string()
        } else {
            String::new()
        }
    };
    let mut out = String::new();
    if !peers.is_empty() {
        out.push_str(&" ".repeat(TIME_WIDTH));
        for peer in &peers {
            out.push_str(SEPARATOR);
            out.push_str(&paint(&format!("S{peer}"), "", width));
        }
        end_line(&mut out);
    }
    // Whether each peer was started or crashed (connected or cut off)
    // before: a start after either is a restart.
    let mut started = vec![false; peers.last().map_or(0, |p| p + 1)];
    let mut connected = started.clone();
    for event in shown {
        let time = format!("{:>TIME_WIDTH$.3}", event.t);
        let Some(peer) = event.peer else {
            let (text, code) = match &event.kind {
                Kind::Begin { title } => (format!("== {title} =="), style(BOLD)),
                Kind::Network { text } => (format!("-- network: {text} --"), String::new()),
                Kind::Failed { message } => (format!("FAILED: {message}"), style(BOLD_RED)),
                other => (peer_words(other, event.term, false, false), String::new()),
            };
            for (i, line) in wrap(&text, span).iter().enumerate() {
                let time = if i == 0 { time.as_str() } else { "" };
                out.push_str(&format!("{time:>TIME_WIDTH$} {}", paint(line, &code, 0)));
                end_line(&mut out);
            }
            continue;
        };
        let column = peers
            .binary_search(&peer)
            .expect("every shown peer has a column");
        let code = match &event.kind {
            Kind::Log { level, .. } if level.eq_ignore_ascii_case("ERROR") => style(BOLD_RED),
            Kind::Log { level, .. } if level.eq_ignore_ascii_case("WARN") => style(BOLD_YELLOW),
            Kind::Log { topic, .. } if layout.colour => topic_colour(topic),
            Kind::Log { .. } | Kind::Output { .. } => String::new(),
            _ => style(DIM),
        };
        let text = peer_words(&event.kind, event.term, started[peer], connected[peer]);
        match event.kind {
            Kind::Started | Kind::Crashed { .. } => started[peer] = true,
            Kind::Connected | Kind::Disconnected => connected[peer] = true,
            _ => {}
        }
        for (i, line) in wrap(&text, width).iter().enumerate() {
            let time = if i == 0 { time.as_str() } else { "" };
            out.push_str(&format!("{time:>TIME_WIDTH$}"));
            for c in 0..peers.len() {
                out.push_str(SEPARATOR);
                let text = if c == column { line.as_str() } else { "" };
                out.push_str(&paint(text, &code, width));
            }
            end_line(&mut out);
        }
    }
    out
}

/// The widest columns that fit `total` characters, but at least
/// [`MIN_COLUMN`].
fn column_width(total: usize, columns: usize) -> usize {
    let fixed = TIME_WIDTH + columns * SEPARATOR.len();
    (total.saturating_sub(fixed) / columns.max(1)).max(MIN_COLUMN)
}

/// Ends the row being written: no trailing spaces, then a newline.
fn end_line(out: &mut String) {
    let kept = out.trim_end_matches(' ').len();
    out.truncate(kept);
    out.push('\n');
}

/// `text` in `code` (none when empty), padded to `width` outside the
/// colour, so escape codes never count towards the width.
fn paint(text: &str, code: &str, width: usize) -> String {
    let pad = " ".repeat(width.saturating_sub(text.chars().count()));
    if code.is_empty() || text.is_empty() {
        format!("{text}{pad}")
    } else {
        format!("{code}{text}{RESET}{pad}")
    }
}

/// A stable colour for `topic`: the same in every run and on every machine
/// (FNV-1a, not std's hasher, whose output may change between releases).
fn topic_colour(topic: &str) -> String {
    let hash = topic.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let code = PALETTE[(hash % PALETTE.len() as u64) as usize];
    format!("\x1b[38;5;{code}m")
}

/// What a peer's event says, in a student's words.
fn peer_words(kind: &Kind, term: Option<u64>, started: bool, connected: bool) -> String {
    let of_term = |t: Option<u64>| t.map_or(String::new(), |t| format!(" (T{t})"));
    match kind {
        Kind::Log { text, .. } => match term {
            Some(term) => format!("T{term} {text}"),
            None => text.clone(),
        },
        Kind::Output { text } => format!("out: {text}"),
        Kind::Started if started => "restarted".into(),
        Kind::Started => "started".into(),
        Kind::Crashed { cleanup: true } => "crashed (cleanup)".into(),
        Kind::Crashed { cleanup: false } => "crashed".into(),
        Kind::Connected if connected => "reconnected".into(),
        Kind::Connected => "connected".into(),
        Kind::Disconnected => "cut off".into(),
        Kind::State { leader } => {
            let role = if *leader { "leader" } else { "not leader" };
            match term {
                Some(term) => format!("says: {role} T{term}"),
                None => format!("says: {role}"),
            }
        }
        Kind::Applied { index, entry_term } => format!("applied {index}{}", of_term(*entry_term)),
        Kind::Snapshot { index, entry_term } => {
            format!("snapshot to {index}{}", of_term(*entry_term))
        }
        Kind::Begin { title } => title.clone(),
        Kind::Network { text } => format!("network: {text}"),
        Kind::Failed { message } => format!("FAILED: {message}"),
    }
}

/// `text` in lines of at most `width` characters, broken at the last space
/// that fits, or mid-word when a word is longer than a line; nothing is
/// dropped but the spaces lines are broken at. Newlines start new lines.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        // Tabs would make the width unknowable.
        let mut rest: Vec<char> = paragraph
            .trim_end_matches('\r')
            .chars()
            .map(|c| if c == '\t' { ' ' } else { c })
            .collect();
        while rest.len() > width {
            match rest[..=width].iter().rposition(|&c| c == ' ') {
                Some(space) if space > 0 => {
                    lines.push(rest[..space].iter().collect());
                    rest.drain(..=space);
                }
                _ => {
                    lines.push(rest[..width].iter().collect());
                    rest.drain(..width);
                }
            }
        }
        lines.push(rest.into_iter().collect());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lanes::tests::{at, global};

    fn log(t: f64, peer: usize, topic: &str, text: &str) -> Event {
        Event {
            term: Some(3),
            ..at(
                t,
                peer,
                Kind::Log {
                    level: "DEBUG".into(),
                    topic: topic.into(),
                    text: text.into(),
                },
            )
        }
    }

    fn plain(width: usize) -> Layout {
        Layout {
            width,
            colour: false,
        }
    }

    fn run() -> Vec<Event> {
        vec![
            global(
                0.0,
                Kind::Begin {
                    title: "Test (2A): initial election".into(),
                },
            ),
            at(0.0, 0, Kind::Started),
            log(0.1, 0, "raft::election", "starts an election"),
            log(0.2, 2, "raft::append", "sends heartbeats"),
            at(0.3, 1, Kind::Crashed { cleanup: false }),
            at(0.4, 1, Kind::Started),
            global(
                0.5,
                Kind::Network {
                    text: "unreliable".into(),
                },
            ),
            Event {
                term: Some(5),
                ..at(0.6, 2, Kind::State { leader: true })
            },
            at(
                0.7,
                1,
                Kind::Applied {
                    index: 12,
                    entry_term: Some(3),
                },
            ),
            at(
                0.8,
                1,
                Kind::Snapshot {
                    index: 40,
                    entry_term: None,
                },
            ),
            at(0.9, 0, Kind::Disconnected),
            at(1.0, 0, Kind::Connected),
            at(
                1.1,
                2,
                Kind::Output {
                    text: "hello".into(),
                },
            ),
            at(1.2, 2, Kind::Crashed { cleanup: true }),
            global(
                12.345,
                Kind::Failed {
                    message: "two leaders\nin term 5".into(),
                },
            ),
        ]
    }

    #[test]
    fn each_peer_has_a_column_under_its_name() {
        let text = render(&run(), &Filter::default(), &plain(80));
        let lines: Vec<&str> = text.lines().collect();
        // (80 - 8 - 3 * 3) / 3 = 21 characters a column.
        let cell = |s: &str| format!("{s:<21}");
        let header = format!("{:8} | {} | {} | S2", "", cell("S0"), cell("S1"));
        assert_eq!(lines[0], header);
        let row = format!("   0.100 | {} |", cell("T3 starts an election"));
        assert_eq!(lines[3], format!("{row} {} |", cell("")));
        assert_eq!(
            lines[4],
            format!(
                "   0.200 | {} | {} | T3 sends heartbeats",
                cell(""),
                cell("")
            )
        );
        assert!(lines.iter().all(|l| l.chars().count() <= 80), "{text}");
    }

    #[test]
    fn harness_events_are_in_a_students_words() {
        let text = render(&run(), &Filter::default(), &plain(80));
        for words in [
            "   0.000 | started",
            "   0.300 |                       | crashed",
            "   0.400 |                       | restarted",
            "says: leader T5",
            "applied 12 (T3)",
            "snapshot to 40",
            "   0.900 | cut off",
            "   1.000 | reconnected",
            "out: hello",
            "crashed (cleanup)",
        ] {
            assert!(text.contains(words), "{words:?} not in\n{text}");
        }
    }

    #[test]
    fn events_of_no_peer_span_the_row() {
        let text = render(&run(), &Filter::default(), &plain(80));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "   0.000 == Test (2A): initial election ==");
        assert!(
            text.contains("\n   0.500 -- network: unreliable --\n"),
            "{text}"
        );
        assert!(
            text.ends_with("\n  12.345 FAILED: two leaders\n         in term 5\n"),
            "{text}"
        );
    }

    #[test]
    fn long_text_wraps_onto_following_rows_without_losing_any() {
        let long =
            "a fairly long line that will not fit one column, and_a_word_longer_than_any_column";
        let events = [log(1.0, 0, "raft", long), log(2.0, 1, "raft", "short")];
        let text = render(&events, &Filter::default(), &plain(40));
        let lines: Vec<&str> = text.lines().collect();
        // Columns are at least 20 wide, however narrow the terminal.
        assert_eq!(column_width(40, 2), 20);
        assert_eq!(column_width(40, 0), 32);
        assert_eq!(lines[1], "   1.000 | T3 a fairly long     |");
        assert_eq!(lines[2], "         | line that will not   |");
        assert_eq!(lines[4], "         | and_a_word_longer_th |");
        let cells: Vec<&str> = lines[1..lines.len() - 1]
            .iter()
            .map(|l| l[11..31].trim_end())
            .collect();
        // Only the spaces the lines broke at are gone.
        let all: String = cells.concat().split(' ').collect();
        assert_eq!(all, format!("T3{long}").replace(' ', ""));
        assert_eq!(
            lines.last().unwrap(),
            &format!("   2.000 | {:20} | T3 short", "")
        );
    }

    #[test]
    fn wrap_breaks_at_spaces_and_inside_long_words() {
        assert_eq!(wrap("abc def ghi", 7), ["abc def", "ghi"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("one\ntwo\tthree", 20), ["one", "two three"]);
        assert_eq!(wrap("", 5), [""]);
    }

    #[test]
    fn the_peer_filter_keeps_its_columns_and_the_landmarks() {
        let filter = Filter {
            peers: Some(vec![1]),
            ..Filter::default()
        };
        let text = render(&run(), &filter, &plain(80));
        assert!(text.starts_with("         | S1\n"), "{text}");
        assert!(text.contains("restarted") && text.contains("network: unreliable"));
        assert!(!text.contains("starts an election") && !text.contains("out: hello"));
    }

    #[test]
    fn the_topic_filter_matches_whole_names_or_their_last_parts() {
        let events = [
            log(1.0, 0, "raft::election", "by last part"),
            log(2.0, 0, "raft::reelection", "not a part"),
            log(3.0, 0, "election", "whole"),
            log(4.0, 0, "raft::append", "other topic"),
            at(5.0, 0, Kind::Started),
        ];
        let filter = |topics: &[&str]| Filter {
            topics: Some(topics.iter().map(|t| t.to_string()).collect()),
            ..Filter::default()
        };
        let text = render(&events, &filter(&["election"]), &plain(60));
        assert!(
            text.contains("by last part") && text.contains("whole"),
            "{text}"
        );
        assert!(!text.contains("not a part") && !text.contains("other topic"));
        assert!(text.contains("started"), "harness events stay: {text}");
        let text = render(&events, &filter(&["raft::append"]), &plain(60));
        assert!(
            text.contains("other topic") && !text.contains("whole"),
            "{text}"
        );
    }

    #[test]
    fn the_time_filter_is_inclusive() {
        let filter = Filter {
            from: Some(0.4),
            to: Some(0.7),
            ..Filter::default()
        };
        let text = render(&run(), &filter, &plain(80));
        let times: Vec<&str> = text
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| w.contains('.'))
            .collect();
        assert_eq!(times, ["0.400", "0.500", "0.600", "0.700"], "{text}");
    }

    #[test]
    fn an_empty_selection_says_so() {
        let filter = Filter {
            from: Some(100.0),
            ..Filter::default()
        };
        assert_eq!(render(&run(), &filter, &plain(80)), "no events match\n");
        assert_eq!(
            render(&[], &Filter::default(), &plain(80)),
            "no events match\n"
        );
    }

    #[test]
    fn without_colour_there_are_no_escape_codes() {
        let mut events = run();
        events.push(Event {
            term: None,
            ..at(
                2.0,
                0,
                Kind::Log {
                    level: "ERROR".into(),
                    topic: "raft".into(),
                    text: "bad".into(),
                },
            )
        });
        let text = render(&events, &Filter::default(), &plain(80));
        assert!(!text.contains('\x1b'), "{text}");
        assert!(
            text.contains(" | bad\n") || text.contains(" | bad "),
            "{text}"
        );
    }

    #[test]
    fn with_colour_topics_levels_and_harness_events_are_styled() {
        let warn = Event {
            ..at(
                2.0,
                1,
                Kind::Log {
                    level: "WARN".into(),
                    topic: "raft".into(),
                    text: "slow".into(),
                },
            )
        };
        let mut events = run();
        events.push(warn);
        let layout = Layout {
            width: 80,
            colour: true,
        };
        let text = render(&events, &Filter::default(), &layout);
        let election = topic_colour("raft::election");
        assert_eq!(election, topic_colour("raft::election"));
        assert!(text.contains(&format!("{election}T3 starts an election{RESET}")));
        assert!(
            text.contains(&format!("{BOLD_YELLOW}slow{RESET}")),
            "{text}"
        );
        assert!(text.contains(&format!("{DIM}crashed{RESET}")), "{text}");
        assert!(text.contains(&format!("{BOLD_RED}FAILED: two leaders{RESET}")));
        assert!(text.contains(&format!("{BOLD_RED}in term 5{RESET}")));
        // Padding stays outside the colour, so columns still line up.
        let header = text.lines().next().unwrap();
        assert!(!header.contains('\x1b'));
    }
}
