//! CPU time of the processes a run loads (the server, PostgreSQL, Redis), read from `/proc`.
//!
//! A watched process counts as a tree: its own user + system time, the time of its children that
//! it has already waited for (`cutime` + `cstime`), and the same for every live descendant. So a
//! PostgreSQL postmaster stands for the whole cluster (backends, WAL writer, checkpointer, and the
//! autovacuum workers that came and went), and a multi-threaded server counts every thread.

use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fs;

/// A process to account, named for the report: `server=1234`.
#[derive(Debug, Clone)]
pub struct Watched {
    pub name: String,
    pub pid: u32,
}

impl std::str::FromStr for Watched {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        let (name, pid) = s.split_once('=').context("expected NAME=PID")?;
        if name.is_empty() {
            bail!("expected NAME=PID, the name is empty");
        }
        let pid = pid
            .parse()
            .with_context(|| format!("{pid:?} is not a process id"))?;
        Ok(Self {
            name: name.to_string(),
            pid,
        })
    }
}

/// The fields of `/proc/<pid>/stat` this module needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProcStat {
    parent: u32,
    /// utime + stime: this process's own CPU, in clock ticks.
    own_ticks: u64,
    /// cutime + cstime: its children's that it has waited for, in clock ticks.
    reaped_children_ticks: u64,
}

/// Parses one `/proc/<pid>/stat` line. The command name sits in parentheses and may itself contain
/// spaces and parentheses, so the fields are counted from the last `)`.
fn parse_stat(line: &str) -> Option<ProcStat> {
    let after_name = &line[line.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17), as in proc(5).
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    Some(ProcStat {
        parent: u32::try_from(field(4)?).ok()?,
        own_ticks: field(14)? + field(15)?,
        reaped_children_ticks: field(16)? + field(17)?,
    })
}

/// Every process on the machine, by pid (processes that vanish while being read are skipped).
fn all_processes() -> anyhow::Result<HashMap<u32, ProcStat>> {
    let mut out = HashMap::new();
    for entry in fs::read_dir("/proc").context("reading /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(stat) = fs::read_to_string(entry.path().join("stat"))
            .ok()
            .as_deref()
            .and_then(parse_stat)
        {
            out.insert(pid, stat);
        }
    }
    Ok(out)
}

/// Clock ticks used so far by `root` and everything below it; `None` once `root` has exited.
fn tree_ticks(processes: &HashMap<u32, ProcStat>, root: u32) -> Option<u64> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, stat) in processes {
        children.entry(stat.parent).or_default().push(*pid);
    }
    processes.get(&root)?;
    let mut total = 0;
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        if let Some(stat) = processes.get(&pid) {
            total += stat.own_ticks + stat.reaped_children_ticks;
        }
        stack.extend(children.get(&pid).into_iter().flatten());
    }
    Some(total)
}

/// One reading of every watched tree, in clock ticks.
pub fn sample(watched: &[Watched]) -> anyhow::Result<Vec<u64>> {
    let processes = all_processes()?;
    watched
        .iter()
        .map(|w| {
            tree_ticks(&processes, w.pid)
                .with_context(|| format!("{} (pid {}) is not running", w.name, w.pid))
        })
        .collect()
}

/// What each watched tree spent between two readings, in total and per game and request.
pub fn report(
    watched: &[Watched],
    before: &[u64],
    after: &[u64],
    clock_ticks_per_second: u64,
    seconds: f64,
    games: u64,
    requests: u64,
) -> Value {
    let mut out = serde_json::Map::new();
    for (i, w) in watched.iter().enumerate() {
        let ticks = after[i].saturating_sub(before[i]);
        let ms = ticks as f64 * 1000.0 / clock_ticks_per_second.max(1) as f64;
        out.insert(
            w.name.clone(),
            json!({
                "pid": w.pid,
                "cpu_ms": ms,
                "cores": ms / 1000.0 / seconds.max(f64::MIN_POSITIVE),
                "cpu_ms_per_game": (games > 0).then(|| ms / games as f64),
                "cpu_us_per_request": (requests > 0).then(|| ms * 1000.0 / requests as f64),
            }),
        );
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(parent: u32, own: u64, reaped: u64) -> ProcStat {
        ProcStat {
            parent,
            own_ticks: own,
            reaped_children_ticks: reaped,
        }
    }

    #[test]
    fn a_stat_line_is_read_past_a_name_with_spaces_and_parentheses() {
        let line = "4242 (postgres: a (b) c) S 17 4242 4242 0 -1 4194304 100 0 0 0 \
                    31 9 5 2 20 0 1 0 123 456 789";
        assert_eq!(parse_stat(line), Some(stat(17, 40, 7)));
    }

    #[test]
    fn a_truncated_stat_line_is_not_read() {
        assert_eq!(parse_stat("42 (x) S 1 42 42 0 -1 0 0 0 0 0 3"), None);
        assert_eq!(parse_stat("no name at all"), None);
    }

    #[test]
    fn a_tree_counts_descendants_and_reaped_children_but_not_its_parent_or_siblings() {
        let processes = HashMap::from([
            (1, stat(0, 1000, 0)),
            (10, stat(1, 5, 20)), // the root; 20 ticks of children it has waited for
            (11, stat(10, 7, 0)),
            (12, stat(11, 3, 1)), // a grandchild
            (20, stat(1, 500, 0)),
        ]);
        assert_eq!(tree_ticks(&processes, 10), Some(5 + 20 + 7 + 3 + 1));
        assert_eq!(tree_ticks(&processes, 99), None);
    }

    #[test]
    fn a_watched_process_is_named_and_numbered() {
        let w: Watched = "redis=77".parse().expect("a valid NAME=PID");
        assert_eq!((w.name.as_str(), w.pid), ("redis", 77));
        assert!("redis".parse::<Watched>().is_err());
        assert!("=77".parse::<Watched>().is_err());
        assert!("redis=x".parse::<Watched>().is_err());
    }

    #[test]
    fn the_report_divides_the_difference_by_games_and_requests() {
        let watched = vec![Watched {
            name: "server".into(),
            pid: 1,
        }];
        let r = report(&watched, &[100], &[350], 100, 10.0, 50, 500);
        let server = &r["server"];
        assert_eq!(server["cpu_ms"], 2500.0);
        assert_eq!(server["cores"], 0.25);
        assert_eq!(server["cpu_ms_per_game"], 50.0);
        assert_eq!(server["cpu_us_per_request"], 5000.0);
        let none = report(&watched, &[100], &[100], 100, 10.0, 0, 0);
        assert!(none["server"]["cpu_ms_per_game"].is_null());
    }

    #[test]
    fn a_running_process_can_be_sampled_and_an_exited_one_cannot() {
        let me = Watched {
            name: "self".into(),
            pid: std::process::id(),
        };
        assert_eq!(
            sample(std::slice::from_ref(&me)).map(|t| t.len()).ok(),
            Some(1)
        );
        let gone = Watched {
            name: "gone".into(),
            pid: u32::MAX,
        };
        let err = sample(&[me, gone]).expect_err("no process has pid u32::MAX");
        assert!(err.to_string().contains("gone"), "{err}");
    }
}
