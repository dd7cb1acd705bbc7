//! A self-contained HTML page showing why a history is not linearizable:
//! per partition, each client's operations as bars on a time axis, the
//! longest linearizable prefix numbered in linearization order, and the
//! operation that could not be placed.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use std::{env, fs, io, process};

use super::history::Operation;
use super::model::Model;
use super::outcome::{Counterexample, PartitionReport, PartitionVerdict};
use super::text::abbreviate;

/// The environment variable naming the file the page is written to; when
/// unset, a new file in the temporary directory is used.
pub const VISUALIZATION_FILE_VARIABLE: &str = "LIN_VIS_FILE";

/// How many steps of the longest prefix the detail table lists.
const PREFIX_STEPS_SHOWN: usize = 20;
/// How much of a description a bar's label shows.
const LABEL_CHARS: usize = 60;
/// How much of a description a bar's hover text shows.
const HOVER_CHARS: usize = 400;
/// Slots between two labelled ticks of a time axis.
const SLOTS_PER_TICK: usize = 10;

/// Writes the page for `counterexample`, found in `history`, to the file
/// named by `$LIN_VIS_FILE` or else to a new file in the temporary
/// directory, and returns its path.
pub fn write_visualization<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    counterexample: &Counterexample,
) -> io::Result<PathBuf> {
    let path = visualization_path(env::var_os(VISUALIZATION_FILE_VARIABLE));
    fs::write(&path, render_page(model, history, counterexample))?;
    Ok(path)
}

/// `configured` if set, else a name no other page of any process uses.
fn visualization_path(configured: Option<OsString>) -> PathBuf {
    static PAGES_WRITTEN: AtomicUsize = AtomicUsize::new(0);
    match configured {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => {
            let since_epoch = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            env::temp_dir().join(format!(
                "linearizability-{}-{}-{}.html",
                process::id(),
                since_epoch.as_nanos(),
                PAGES_WRITTEN.fetch_add(1, Ordering::Relaxed)
            ))
        }
    }
}

fn render_page<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    counterexample: &Counterexample,
) -> String {
    let mut page = String::new();
    let failures = counterexample.failures().count();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>History not linearizable</title><style>{STYLE}</style></head><body>\
         <h1>History not linearizable</h1>\
         <p>{failures} of {} partitions are not linearizable. Each bar is an operation, one row \
         per client, from its call to its return. The time axis keeps only the order of calls \
         and returns (hover over a bar for its exact times). Numbers give the linearization \
         order of the longest linearizable prefix the search found (or, for a linearizable \
         partition, of a full linearization); the red bar is the operation that could not be \
         placed after that prefix.</p>\
         <div class=\"controls\">Zoom: <button onclick=\"zoom(0.5)\">&minus;</button> \
         <button onclick=\"zoom(2)\">+</button></div>",
        counterexample.partitions.len()
    );
    let mut partitions: Vec<&PartitionReport> = counterexample.partitions.iter().collect();
    partitions.sort_by_key(|partition| match partition.verdict {
        PartitionVerdict::NotLinearizable { .. } => 0,
        PartitionVerdict::Undecided => 1,
        PartitionVerdict::Linearizable { .. } => 2,
    });
    for partition in partitions {
        render_partition(&mut page, model, history, partition);
    }
    let _ = writeln!(page, "<script>{SCRIPT}</script></body></html>");
    page
}

fn render_partition<M: Model>(
    page: &mut String,
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    partition: &PartitionReport,
) {
    let total = partition.operations.len();
    let (class, verdict, numbered, unplaceable) = match &partition.verdict {
        PartitionVerdict::NotLinearizable {
            longest_prefix,
            unplaceable,
        } => (
            "failed",
            format!(
                "not linearizable (longest linearizable prefix: {} of {total} operations)",
                longest_prefix.len()
            ),
            longest_prefix.as_slice(),
            Some(*unplaceable),
        ),
        PartitionVerdict::Linearizable { order } => (
            "passed",
            format!("linearizable ({total} operations)"),
            order.as_slice(),
            None,
        ),
        PartitionVerdict::Undecided => (
            "undecided",
            format!("not decided: the budget ran out ({total} operations)"),
            &[][..],
            None,
        ),
    };
    let _ = write!(
        page,
        "<details class=\"partition {class}\"{}><summary>{}: {}</summary>",
        if unplaceable.is_some() { " open" } else { "" },
        escape(&partition.name),
        escape(&verdict)
    );
    if let Some(unplaceable) = unplaceable {
        render_failure(page, model, history, numbered, unplaceable);
    }
    let numbers: HashMap<usize, usize> = numbered
        .iter()
        .enumerate()
        .map(|(position, &operation)| (operation, position + 1))
        .collect();
    render_timeline(
        page,
        model,
        history,
        &partition.operations,
        &numbers,
        unplaceable,
    );
    page.push_str("</details>");
}

/// The words and table above a failing partition's timeline.
fn render_failure<M: Model>(
    page: &mut String,
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    longest_prefix: &[usize],
    unplaceable: usize,
) {
    let mut states = Vec::with_capacity(longest_prefix.len());
    let mut state = model.init();
    for &index in longest_prefix {
        let operation = &history[index];
        state = model
            .step(&state, &operation.input, &operation.output)
            .expect("the search placed this operation here, so the model accepts it");
        states.push(state.clone());
    }
    let stuck = &history[unplaceable];
    let _ = write!(
        page,
        "<div class=\"detail\"><p>From the longest linearizable prefix the search found \
         ({} operations), no choice of the next operations could place client {}'s operation \
         before it returned (called at {}, returned at {}):</p><pre class=\"stuck\">{}</pre>\
         <p>State after the prefix:</p><pre>{}</pre>",
        longest_prefix.len(),
        stuck.client_id,
        seconds(stuck.called_at),
        seconds(stuck.returned_at),
        escape(&model.describe_operation(&stuck.input, &stuck.output)),
        escape(&model.describe_state(&state)),
    );
    let shown_from = longest_prefix.len().saturating_sub(PREFIX_STEPS_SHOWN);
    if shown_from < longest_prefix.len() {
        let _ = write!(
            page,
            "<p>The last {} steps of the prefix:</p><table><tr><th>#</th><th>client</th>\
             <th>operation</th><th>state after</th></tr>",
            longest_prefix.len() - shown_from
        );
        for (position, (&index, state)) in longest_prefix
            .iter()
            .zip(&states)
            .enumerate()
            .skip(shown_from)
        {
            let operation = &history[index];
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                position + 1,
                operation.client_id,
                escape(&abbreviate(
                    &model.describe_operation(&operation.input, &operation.output),
                    HOVER_CHARS
                )),
                escape(&abbreviate(&model.describe_state(state), HOVER_CHARS)),
            );
        }
        page.push_str("</table>");
    }
    page.push_str("</div>");
}

/// One row per client; each bar spans its operation's call to its return.
/// Positions are ranks of the distinct call and return times, so the
/// picture keeps every before/after relation yet stays readable.
fn render_timeline<M: Model>(
    page: &mut String,
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    operations: &[usize],
    numbers: &HashMap<usize, usize>,
    unplaceable: Option<usize>,
) {
    let span = |index: usize| {
        let operation = &history[index];
        (
            operation.called_at,
            operation.returned_at.max(operation.called_at),
        )
    };
    let mut instants: Vec<Duration> = operations
        .iter()
        .flat_map(|&index| {
            let (called_at, returned_at) = span(index);
            [called_at, returned_at]
        })
        .collect();
    instants.sort_unstable();
    instants.dedup();
    let slot = |at: Duration| instants.binary_search(&at).unwrap_or_default();
    let mut by_client: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &index in operations {
        by_client
            .entry(history[index].client_id)
            .or_default()
            .push(index);
    }
    let _ = write!(
        page,
        "<div class=\"scroll\"><div class=\"timeline\" style=\"--slots:{}\">\
         <div class=\"row axis\"><div class=\"client\">time</div><div class=\"lane\">",
        instants.len()
    );
    for (position, at) in instants.iter().enumerate().step_by(SLOTS_PER_TICK) {
        let _ = write!(
            page,
            "<span class=\"tick\" style=\"left:calc(var(--slot)*{position})\">{}</span>",
            seconds(*at)
        );
    }
    page.push_str("</div></div>");
    for (client_id, indices) in by_client {
        let _ = write!(
            page,
            "<div class=\"row\"><div class=\"client\">client {client_id}</div><div class=\"lane\">"
        );
        for index in indices {
            let operation = &history[index];
            let (called_at, returned_at) = span(index);
            let (first, last) = (slot(called_at), slot(returned_at));
            let description = model.describe_operation(&operation.input, &operation.output);
            let number = numbers.get(&index);
            let class = match (Some(index) == unplaceable, number) {
                (true, _) => "unplaceable",
                (false, Some(_)) => "placed",
                (false, None) => "unplaced",
            };
            let place = match (class, number) {
                ("unplaceable", _) => "could not be placed after the prefix".to_string(),
                (_, Some(number)) => format!("linearized #{number}"),
                _ => "not linearized".to_string(),
            };
            let hover = format!(
                "client {client_id}\n{}\ncalled at {}, returned at {}\n{place}",
                abbreviate(&description, HOVER_CHARS),
                seconds(operation.called_at),
                seconds(operation.returned_at),
            );
            let _ = write!(
                page,
                "<div class=\"op {class}\" style=\"left:calc(var(--slot)*{first});\
                 width:calc(var(--slot)*{})\" title=\"{}\">",
                last - first + 1,
                escape(&hover)
            );
            if let Some(number) = number {
                let _ = write!(page, "<span class=\"n\">{number}</span>");
            }
            let _ = write!(
                page,
                "{}</div>",
                escape(&abbreviate(&description, LABEL_CHARS))
            );
        }
        page.push_str("</div></div>");
    }
    page.push_str("</div></div>");
}

fn seconds(at: Duration) -> String {
    format!("{:.6} s", at.as_secs_f64())
}

/// Escapes text for HTML content and quoted attribute values; newlines
/// become character references so hover text keeps its lines.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            '\n' => escaped.push_str("&#10;"),
            other => escaped.push(other),
        }
    }
    escaped
}

const STYLE: &str = "\
:root{--slot:14px;font:14px system-ui,sans-serif;color:#222}\
body{margin:1em 2em}\
.controls{position:sticky;top:0;background:#fff;padding:.3em 0;z-index:5}\
details.partition{border:1px solid #ccc;border-radius:6px;margin:.8em 0;padding:.3em .8em}\
summary{cursor:pointer;font-weight:600}\
.failed>summary{color:#b00}\
.undecided>summary{color:#a60}\
.scroll{overflow-x:auto;padding-bottom:.5em}\
.timeline{width:calc(110px + var(--slot)*var(--slots))}\
.row{display:flex;height:24px;margin:3px 0}\
.client{flex:0 0 100px;position:sticky;left:0;background:#fff;z-index:2;line-height:24px;\
font-size:12px;color:#555}\
.lane{position:relative;flex:0 0 auto;width:calc(var(--slot)*var(--slots))}\
.axis{height:18px}\
.tick{position:absolute;font-size:10px;color:#888;border-left:1px solid #bbb;padding-left:2px;\
white-space:nowrap}\
.op{position:absolute;top:0;height:22px;box-sizing:border-box;border:1px solid #999;\
border-radius:4px;background:#eee;font:11px/20px monospace;padding:0 3px;white-space:nowrap;\
overflow:hidden;text-overflow:ellipsis}\
.op.placed{background:#d4ecd4;border-color:#5a5}\
.op.unplaceable{background:#f9c8c8;border:2px solid #c00;z-index:1}\
.n{display:inline-block;min-width:1.4em;margin-right:3px;border-radius:3px;background:#4a4;\
color:#fff;text-align:center}\
table{border-collapse:collapse;margin-bottom:.8em}\
td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;font:12px monospace}\
pre{white-space:pre-wrap;word-break:break-all;background:#f6f6f6;padding:.4em}\
pre.stuck{background:#fbe3e3}";

const SCRIPT: &str = "\
function zoom(factor){\
const root=document.documentElement;\
const slot=parseFloat(getComputedStyle(root).getPropertyValue('--slot'))*factor;\
root.style.setProperty('--slot',Math.min(120,Math.max(1,slot))+'px');}\
window.addEventListener('load',function(){\
const stuck=document.querySelector('.op.unplaceable');\
if(stuck){stuck.scrollIntoView({block:'center',inline:'center'});}});";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_file_wins_and_otherwise_each_page_gets_a_new_temporary_file() {
        let configured = visualization_path(Some(OsString::from("/somewhere/page.html")));
        assert_eq!(configured, PathBuf::from("/somewhere/page.html"));
        let first = visualization_path(None);
        let second = visualization_path(Some(OsString::new()));
        assert_ne!(first, second);
        for path in [first, second] {
            assert_eq!(path.parent(), Some(env::temp_dir().as_path()));
            assert_eq!(path.extension().and_then(|ext| ext.to_str()), Some("html"));
        }
    }

    #[test]
    fn escape_makes_text_safe_in_content_and_attributes() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>\n"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;&#10;"
        );
    }
}
