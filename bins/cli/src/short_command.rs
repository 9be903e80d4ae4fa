//! Process settings for a short store command in local mode.
//!
//! Such a command runs two threads that never work at the same time: the
//! main one, and SQLite's worker (sqlx's), which it hands every statement
//! and then waits for. Two defaults cost them time that nothing pays back
//! (docs/BENCHMARKS.md, ADR 0014):
//!
//! - Waking a thread that sleeps on the other CPU took about 40 µs each way
//!   on the benchmark VM, about 5 µs on the same CPU, and a save makes some
//!   fifteen round trips.
//! - glibc gives the worker a malloc arena of its own: a fresh heap whose
//!   pages all fault in. One arena saved 0.1-0.35 ms of a 3-5 ms command,
//!   depending on the measurement.
//! - A thread the other one wakes preempts it at once, so every row or
//!   answer the worker sends cost two context switches, and the woken thread
//!   often found the channel's lock still held. Batch threads are not
//!   preempted on wake-up: the worker finishes its statement, then the main
//!   thread takes all of its answer.

/// Keep this process on the CPU it runs on, on glibc's main malloc arena,
/// and in the batch scheduling class. Threads started afterwards (the
/// SQLite worker) inherit all three, and a child process would inherit the
/// CPU and the class, which is why only store commands call this. Best
/// effort: what the system refuses stays as it was.
pub fn prepare() {
    stay_on_current_cpu();
    share_one_malloc_arena();
    run_as_batch();
}

#[cfg(target_os = "linux")]
fn stay_on_current_cpu() {
    use nix::sched::{CpuSet, sched_getcpu, sched_setaffinity};
    use nix::unistd::Pid;

    let pinned = sched_getcpu().and_then(|cpu| {
        let mut set = CpuSet::new();
        set.set(cpu)?;
        sched_setaffinity(Pid::from_raw(0), &set)
    });
    if let Err(e) = pinned {
        tracing::debug!("staying free to move between CPUs: {e}");
    }
}

#[cfg(not(target_os = "linux"))]
fn stay_on_current_cpu() {}

/// The `unsafe` of the workspace (ADR 0014; tests/tidy.rs keeps it here):
/// two glibc calls that no safe crate wraps.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
mod glibc {
    pub(super) fn share_one_malloc_arena() {
        // SAFETY: `mallopt` takes two integers and only sets an allocator
        // limit; glibc serialises it against allocations, and any value of
        // M_ARENA_MAX is valid. It touches no memory of ours.
        let accepted = unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
        if accepted != 1 {
            tracing::debug!("glibc refused a single malloc arena");
        }
    }

    pub(super) fn run_as_batch() {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 names the calling thread, and `param` is an
        // initialised value that outlives the call, which only reads it.
        let failed = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } != 0;
        if failed {
            tracing::debug!("the scheduler refused SCHED_BATCH");
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
use glibc::{run_as_batch, share_one_malloc_arena};

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn share_one_malloc_arena() {}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn run_as_batch() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use nix::sched::{CpuSet, sched_getaffinity};
    use nix::unistd::Pid;

    #[test]
    fn a_pinned_thread_and_the_threads_it_starts_run_on_one_cpu() {
        // On a thread of its own: the restriction must not leak into the
        // other tests of this binary.
        std::thread::spawn(|| {
            stay_on_current_cpu();
            let allowed = sched_getaffinity(Pid::from_raw(0)).unwrap();
            let count = (0..CpuSet::count())
                .filter(|&cpu| allowed.is_set(cpu).unwrap_or(false))
                .count();
            assert_eq!(count, 1);
            let child = std::thread::spawn(|| sched_getaffinity(Pid::from_raw(0)).unwrap())
                .join()
                .unwrap();
            assert_eq!(child, allowed);
        })
        .join()
        .unwrap();
    }

    /// The scheduling policy of the calling thread: field 41 of its `stat`.
    fn policy() -> Option<u32> {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
        let after_name = stat.get(stat.rfind(')')? + 1..)?;
        after_name.split_whitespace().nth(38)?.parse().ok()
    }

    #[cfg(target_env = "gnu")]
    #[test]
    fn a_batch_thread_starts_batch_threads() {
        const SCHED_OTHER: u32 = 0;
        const SCHED_BATCH: u32 = 3;
        std::thread::spawn(|| {
            assert_eq!(policy(), Some(SCHED_OTHER));
            run_as_batch();
            assert_eq!(policy(), Some(SCHED_BATCH));
            let child = std::thread::spawn(policy).join().unwrap();
            assert_eq!(child, Some(SCHED_BATCH));
        })
        .join()
        .unwrap();
    }
}
