//! The threads evaluations run on, kept for reuse: starting an OS thread
//! per job costs more than a table lookup or a no-op evaluation itself.
//!
//! A job takes an idle thread or, when none is idle, starts a new one, so a
//! job never waits behind another whose thread is still busy (an evaluation
//! that has not yet noticed its cancel flag after its lease was lost).
//! Threads idle for longer than the keep-alive exit. A thread runs one
//! evaluation at a time; thread-local state an evaluator sets must be
//! scoped to the evaluation, since a later job may run on the same thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One evaluation, ready to run.
pub type Task = Box<dyn FnOnce() + Send + 'static>;

/// A set of reusable job threads.
#[derive(Debug, Clone)]
pub struct JobThreads {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Threads waiting for a task: their number and the sender of their queue.
    idle: Mutex<Vec<(u64, Sender<Task>)>>,
    /// Numbers threads for their names.
    started: Mutex<u64>,
    /// How long an idle thread waits for work before it exits.
    keep_alive: Duration,
    /// Tasks given out and not yet returned.
    busy: AtomicUsize,
}

impl JobThreads {
    /// No threads yet; idle ones exit after `keep_alive`.
    pub fn new(keep_alive: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                idle: Mutex::default(),
                started: Mutex::new(0),
                keep_alive,
                busy: AtomicUsize::new(0),
            }),
        }
    }

    /// Run `task` on an idle thread, or on a new one if none is idle.
    pub fn spawn(&self, task: Task) -> std::io::Result<()> {
        let inner = self.inner.clone();
        inner.busy.fetch_add(1, Ordering::SeqCst);
        let counted: Task = Box::new(move || {
            // Counted down even if the task panics.
            struct Done(Arc<Inner>);
            impl Drop for Done {
                fn drop(&mut self) {
                    self.0.busy.fetch_sub(1, Ordering::SeqCst);
                }
            }
            let _done = Done(inner);
            task();
        });
        let r = self.start(counted);
        if r.is_err() {
            self.inner.busy.fetch_sub(1, Ordering::SeqCst);
        }
        r
    }

    /// Tasks running now (given out and not yet returned).
    pub fn busy(&self) -> usize {
        self.inner.busy.load(Ordering::SeqCst)
    }

    fn start(&self, mut task: Task) -> std::io::Result<()> {
        loop {
            let idle = self.lock_idle().pop();
            let Some((_, tx)) = idle else { break };
            match tx.send(task) {
                Ok(()) => return Ok(()),
                // That thread has exited; try the next.
                Err(mpsc::SendError(t)) => task = t,
            }
        }
        let n = {
            let mut started = self.inner.started.lock().unwrap_or_else(|e| e.into_inner());
            *started += 1;
            *started
        };
        let (tx, rx) = mpsc::channel::<Task>();
        let inner = self.inner.clone();
        std::thread::Builder::new()
            .name(format!("job-thread-{n}"))
            .spawn(move || {
                task();
                loop {
                    inner
                        .idle
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((n, tx.clone()));
                    let next = loop {
                        match rx.recv_timeout(inner.keep_alive) {
                            Ok(task) => break task,
                            Err(RecvTimeoutError::Timeout) => {
                                let mut idle = inner.idle.lock().unwrap_or_else(|e| e.into_inner());
                                if let Some(i) = idle.iter().position(|(m, _)| *m == n) {
                                    idle.remove(i);
                                    return;
                                }
                                // A job took this thread as it timed out; its
                                // task is on the way.
                            }
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                    };
                    next();
                }
            })?;
        Ok(())
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Sender<Task>)>> {
        self.inner.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Threads waiting for work now.
    pub fn idle(&self) -> usize {
        self.lock_idle().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    fn thread_name(threads: &JobThreads) -> String {
        let (tx, rx) = channel();
        threads
            .spawn(Box::new(move || {
                let _ = tx.send(std::thread::current().name().map(String::from));
            }))
            .unwrap();
        rx.recv().unwrap().unwrap()
    }

    fn wait_idle(threads: &JobThreads, n: usize) {
        for _ in 0..500 {
            if threads.idle() == n {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("expected {n} idle threads, have {}", threads.idle());
    }

    #[test]
    fn an_idle_thread_is_reused() {
        let threads = JobThreads::new(Duration::from_secs(10));
        let first = thread_name(&threads);
        wait_idle(&threads, 1);
        assert_eq!(thread_name(&threads), first);
    }

    #[test]
    fn a_busy_thread_does_not_hold_up_the_next_job() {
        let threads = JobThreads::new(Duration::from_secs(10));
        let (release, blocked) = channel::<()>();
        threads
            .spawn(Box::new(move || {
                let _ = blocked.recv();
            }))
            .unwrap();
        // The first thread is stuck; the next job gets a thread of its own.
        assert_eq!(thread_name(&threads), "job-thread-2");
        release.send(()).unwrap();
        wait_idle(&threads, 2);
    }

    #[test]
    fn idle_threads_exit_after_the_keep_alive() {
        let threads = JobThreads::new(Duration::from_millis(20));
        thread_name(&threads);
        wait_idle(&threads, 0);
        assert_eq!(thread_name(&threads), "job-thread-2");
    }
}
