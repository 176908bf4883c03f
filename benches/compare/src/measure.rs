//! Shared by both sides of the comparison (this crate and `aws-esdk/`): the command line, CPU-time
//! measurement and the JSON-lines records the report reads.
//!
//! Figures are per CPU-second of the whole process (user + system, every thread), so that a
//! busy machine slows the wall clock but not the figures, and an implementation that burns
//! helper threads is charged for them.

use std::time::Instant;

use cpu_time::ProcessTime;

/// Command-line options, the same on both sides.
pub struct Opts {
    /// Message size for the one-shot workloads, in MiB.
    pub mib: usize,
    /// Repetitions of each one-shot workload (the median is kept).
    pub runs: usize,
    /// Algorithm suites.
    pub suites: Vec<u16>,
    /// Frame lengths.
    pub frames: Vec<u32>,
    /// CPU seconds spent on each 1 KiB round-trip rate.
    pub small_secs: f64,
    /// esdk only: the backends to measure (`aws-lc`, `rustcrypto`).
    pub backends: Vec<String>,
    /// esdk only: whether to measure the machine's ceilings (bare AES-GCM, SHA-384, memcpy).
    pub machine: bool,
    /// esdk only: whether to measure the one-shot workloads again with frames on every core.
    pub parallel: bool,
}

impl Opts {
    /// Parses options from `args` (the program name and any subcommand already taken off).
    pub fn parse_from(mut args: impl Iterator<Item = String>) -> Opts {
        let mut o = Opts {
            mib: 64,
            runs: 3,
            suites: vec![0x0478, 0x0578, 0x0178, 0x0078],
            frames: vec![4096, 65536],
            small_secs: 2.0,
            backends: vec!["aws-lc".into(), "rustcrypto".into()],
            machine: true,
            parallel: true,
        };
        while let Some(a) = args.next() {
            let mut value = || {
                args.next()
                    .unwrap_or_else(|| usage(&format!("{a} needs a value")))
            };
            match a.as_str() {
                "--mib" => o.mib = value().parse().unwrap_or_else(|_| usage("bad --mib")),
                "--runs" => o.runs = value().parse().unwrap_or_else(|_| usage("bad --runs")),
                "--small-secs" => {
                    o.small_secs = value()
                        .parse()
                        .unwrap_or_else(|_| usage("bad --small-secs"))
                }
                "--suites" => {
                    o.suites = value()
                        .split(',')
                        .map(|s| {
                            u16::from_str_radix(s.trim_start_matches("0x"), 16)
                                .unwrap_or_else(|_| usage("bad --suites"))
                        })
                        .collect()
                }
                "--frames" => {
                    o.frames = value()
                        .split(',')
                        .map(|s| s.parse().unwrap_or_else(|_| usage("bad --frames")))
                        .collect()
                }
                "--backends" => o.backends = value().split(',').map(String::from).collect(),
                "--no-machine" => o.machine = false,
                "--no-parallel" => o.parallel = false,
                _ => usage(&format!("unknown argument {a}")),
            }
        }
        if o.runs == 0 || o.mib == 0 {
            usage("--runs and --mib must be positive");
        }
        o
    }
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "{msg}\nusage: [--mib 64] [--runs 3] [--suites 0478,0578,0178,0078] [--frames 4096,65536] \
         [--small-secs 2] [--backends aws-lc,rustcrypto] [--no-machine] [--no-parallel]"
    );
    std::process::exit(2)
}

/// CPU and wall seconds.
#[derive(Clone, Copy)]
pub struct Timing {
    pub cpu: f64,
    pub wall: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `op` `runs` times, each on a fresh input from `setup` (not timed); returns the median
/// CPU and wall times and the last output (dropped by the caller, after timing).
pub fn repeat<T, R>(
    runs: usize,
    mut setup: impl FnMut() -> T,
    mut op: impl FnMut(T) -> R,
) -> (Timing, R) {
    let (mut cpu, mut wall, mut last) = (Vec::new(), Vec::new(), None);
    for _ in 0..runs {
        let input = setup();
        drop(last.take());
        let (c, w) = (ProcessTime::now(), Instant::now());
        let out = op(input);
        cpu.push(c.elapsed().as_secs_f64());
        wall.push(w.elapsed().as_secs_f64());
        last = Some(out);
    }
    (
        Timing {
            cpu: median(cpu),
            wall: median(wall),
        },
        last.expect("runs > 0"),
    )
}

/// Calls `op` until `secs` CPU seconds have gone (at least 10 calls); returns calls per CPU second
/// and per wall second.
pub fn rate(secs: f64, mut op: impl FnMut()) -> (f64, f64) {
    let (c, w) = (ProcessTime::now(), Instant::now());
    let mut n = 0u64;
    loop {
        for _ in 0..10 {
            op();
        }
        n += 10;
        let cpu = c.elapsed().as_secs_f64();
        if cpu >= secs {
            return (n as f64 / cpu, n as f64 / w.elapsed().as_secs_f64());
        }
    }
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Runs `op` and returns how many bytes of memory it held at its peak beyond what the process
/// held before (Linux: the resident high-water mark, reset through `/proc/self/clear_refs`;
/// `None` where that is unavailable).
pub fn peak_extra<R>(op: impl FnOnce() -> R) -> (Option<u64>, R) {
    let before = status_kib("VmRSS:");
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let out = op();
    let peak = status_kib("VmHWM:");
    match (before, peak, reset) {
        (Some(b), Some(p), true) => (Some(p.saturating_sub(b) * 1024), out),
        _ => (None, out),
    }
}

/// (input + the call's peak extra memory) / (input + output).
pub fn peak_ratio(input: usize, extra: u64, output: usize) -> f64 {
    (input as f64 + extra as f64) / (input + output) as f64
}

/// One JSON line: peak memory of a one-shot operation, as (input + memory the call added at
/// its peak) / (input + output).
pub fn peak_record(imp: &str, suite: u16, frame: u32, op: &str, ratio: f64) -> String {
    format!(
        "{{\"impl\":\"{imp}\",\"kind\":\"peak\",\"suite\":\"0x{suite:04X}\",\"frame\":{frame},\
         \"op\":\"{op}\",\"value\":{ratio:.3}}}"
    )
}

/// The suites measured with 1 KiB round trips: 0x0478 and 0x0578, when `--suites` has them.
pub fn small_suites(o: &Opts) -> Vec<u16> {
    [0x0478u16, 0x0578]
        .into_iter()
        .filter(|s| o.suites.contains(s))
        .collect()
}

/// Deterministic filler bytes (their content does not matter to AES-GCM or SHA-2).
pub fn filler(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// One JSON line: a one-shot throughput in MiB per CPU-second (and per wall second).
pub fn oneshot_record(
    imp: &str,
    suite: u16,
    frame: u32,
    op: &str,
    mib: usize,
    t: Timing,
) -> String {
    format!(
        "{{\"impl\":\"{imp}\",\"kind\":\"oneshot\",\"suite\":\"0x{suite:04X}\",\"frame\":{frame},\
         \"op\":\"{op}\",\"cpu\":{:.2},\"wall\":{:.2}}}",
        mib as f64 / t.cpu,
        mib as f64 / t.wall
    )
}

/// One JSON line: 1 KiB round trips (encrypt + decrypt) per CPU-second (and per wall second).
pub fn small_record(imp: &str, suite: u16, per_cpu: f64, per_wall: f64) -> String {
    format!(
        "{{\"impl\":\"{imp}\",\"kind\":\"small\",\"suite\":\"0x{suite:04X}\",\"cpu\":{per_cpu:.1},\
         \"wall\":{per_wall:.1}}}"
    )
}

// The three below are used by the esdk side only (frames on every core).

/// CPU nanoseconds each thread of this process has run so far (Linux `schedstat`; empty
/// elsewhere), by thread id.
#[allow(dead_code)]
pub fn thread_cpu_ns() -> std::collections::HashMap<u64, u64> {
    let mut out = std::collections::HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(tid) = entry.file_name().to_string_lossy().parse::<u64>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("schedstat")) else {
            continue;
        };
        if let Some(ns) = stat.split_whitespace().next().and_then(|v| v.parse().ok()) {
            out.insert(tid, ns);
        }
    }
    out
}

/// Runs `op` and returns the CPU seconds of its busiest thread (its critical path: about the
/// wall time on otherwise idle cores) and of all threads together.
#[allow(dead_code)]
pub fn critical_path<R>(op: impl FnOnce() -> R) -> (f64, f64, R) {
    let before = thread_cpu_ns();
    let out = op();
    let after = thread_cpu_ns();
    let deltas: Vec<u64> = after
        .iter()
        .map(|(tid, ns)| ns - before.get(tid).copied().unwrap_or(0))
        .collect();
    let max = deltas.iter().copied().max().unwrap_or(0) as f64 / 1e9;
    let sum = deltas.iter().sum::<u64>() as f64 / 1e9;
    (max, sum, out)
}

/// One JSON line: a one-shot throughput on every core, per second of its busiest thread
/// (`crit`) and per CPU-second of all threads (`cpu`).
#[allow(dead_code)]
pub fn parallel_record(
    imp: &str,
    suite: u16,
    frame: u32,
    op: &str,
    mib: usize,
    crit: f64,
    sum: f64,
) -> String {
    format!(
        "{{\"impl\":\"{imp}\",\"kind\":\"critical\",\"suite\":\"0x{suite:04X}\",\"frame\":{frame},\
         \"op\":\"{op}\",\"cpu\":{:.2},\"wall\":{:.2}}}",
        mib as f64 / crit,
        mib as f64 / sum
    )
}
