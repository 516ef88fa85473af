//! Admission: a fixed number of jobs render at once, a bounded number wait, and the rest
//! are turned away at once with 429 rather than left to pile up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::Metrics;

#[derive(Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
    /// Slots plus queue places: the most jobs admitted at once.
    capacity: usize,
    /// Jobs admitted and not finished, waiting or running.
    admitted: AtomicUsize,
    running: AtomicUsize,
    metrics: Arc<Metrics>,
}

/// A job admitted to the queue; [`Ticket::start`] waits for a render slot.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
}

/// A job holding a render slot. Dropping it frees the slot and the admission.
#[derive(Debug)]
pub struct Running {
    admission: Arc<Admission>,
    _permit: OwnedSemaphorePermit,
}

impl Admission {
    pub fn new(max_concurrency: usize, queue_size: usize, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Admission {
            slots: Arc::new(Semaphore::new(max_concurrency)),
            capacity: max_concurrency + queue_size,
            admitted: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            metrics,
        })
    }

    /// Admits a job, or `None` when every slot is busy and the queue is full.
    pub fn admit(self: &Arc<Self>) -> Option<Ticket> {
        if self.admitted.fetch_add(1, Ordering::SeqCst) >= self.capacity {
            self.admitted.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        self.publish();
        Some(Ticket {
            admission: self.clone(),
        })
    }

    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    pub fn queued(&self) -> usize {
        self.admitted
            .load(Ordering::SeqCst)
            .saturating_sub(self.running())
    }

    /// Jobs admitted and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.admitted.load(Ordering::SeqCst)
    }

    fn publish(&self) {
        self.metrics.queued.set(self.queued() as i64);
        self.metrics.running.set(self.running() as i64);
    }
}

impl Ticket {
    pub async fn start(self) -> Running {
        let permit = self
            .admission
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore is never closed");
        let admission = self.admission.clone();
        // The admission moves from the ticket to the running job.
        std::mem::forget(self);
        admission.running.fetch_add(1, Ordering::SeqCst);
        admission.publish();
        Running {
            admission,
            _permit: permit,
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.admitted.fetch_sub(1, Ordering::SeqCst);
        self.admission.publish();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.admission.running.fetch_sub(1, Ordering::SeqCst);
        self.admission.admitted.fetch_sub(1, Ordering::SeqCst);
        self.admission.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_beyond_slots_plus_queue() {
        let admission = Admission::new(1, 1, Arc::new(Metrics::new()));
        let first = admission.admit().unwrap().start().await;
        let second = admission.admit().expect("one may wait");
        assert_eq!(admission.queued(), 1);
        assert!(admission.admit().is_none(), "queue is full");
        drop(first);
        let _second = second.start().await;
        assert_eq!((admission.running(), admission.queued()), (1, 0));
        assert!(admission.admit().is_some());
    }

    #[tokio::test]
    async fn a_ticket_dropped_while_waiting_leaves_the_queue() {
        let admission = Admission::new(1, 1, Arc::new(Metrics::new()));
        let _first = admission.admit().unwrap().start().await;
        drop(admission.admit().unwrap());
        assert_eq!(admission.in_flight(), 1);
    }
}
