//! The sending side of a run: the `--parallel` sender threads, batches handed
//! to them (or, in a dry run, written as the requests they would be), and
//! their answers collected.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::start::{Done, Job, Run};
use crate::error::{Error, Result};
use crate::push::pacer::Pacer;
use crate::push::setup::token_source;
use crate::push::targets;
use crate::push::uploader::Uploader;

impl Run {
    /// Gets the first token (a bad credential ends the run before any
    /// result, exit 4) and starts the sender threads.
    pub(super) fn start_workers(&mut self) -> Result<()> {
        let agent = crate::http::agent(&self.opts.http)?;
        let tokens = Arc::new(token_source(
            &self.opts,
            &self.endpoints,
            agent.clone(),
            &self.interrupt,
        )?);
        tokens.token()?;
        let rpm = self
            .opts
            .rpm
            .unwrap_or(self.opts.target.default_rpm() as f64);
        let pacer = Arc::new(Pacer::new(rpm));
        self.pacer = Some(Arc::clone(&pacer));
        let uploader = Arc::new(Uploader {
            target: self.opts.target,
            agent,
            tokens,
            pacer,
            interrupt: self.interrupt.clone(),
            max_retries: self.opts.max_retries,
            max_throttled: self.opts.max_throttled,
            retry_base: self.opts.retry_base,
            stats: Arc::clone(&self.stats),
        });
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        for _ in 0..self.opts.parallel {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            let up = Arc::clone(&uploader);
            let url = self.url.clone();
            let source_system = self.opts.source_system.clone();
            self.workers.push(std::thread::spawn(move || loop {
                let job = match job_rx.lock().expect("job queue").recv() {
                    Ok(j) => j,
                    Err(_) => return,
                };
                let bodies: Vec<&[u8]> = job.items.iter().map(|p| p.body.as_slice()).collect();
                let echoes: Vec<String> = job.items.iter().map(|p| p.echo.clone()).collect();
                let outcomes = up.upload(&url, &source_system, &bodies, &echoes);
                if done_tx
                    .send(Done {
                        items: job.items,
                        outcomes,
                    })
                    .is_err()
                {
                    return;
                }
            }));
        }
        self.jobs = Some(job_tx);
        self.done = Some(done_rx);
        Ok(())
    }

    /// Sends the current batch off (waiting for a free sender), or in a dry
    /// run writes the request it would be.
    pub(super) fn submit(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        if self.opts.dry_run {
            return self.write_dry_request();
        }
        while self.in_flight >= self.opts.parallel {
            self.drain(true)?;
        }
        let items = std::mem::take(&mut self.batch);
        self.jobs
            .as_ref()
            .expect("workers started")
            .send(Job { items })
            .map_err(|_| Error::Other("sender threads ended unexpectedly".into()))?;
        self.in_flight += 1;
        Ok(())
    }

    pub(super) fn write_dry_request(&mut self) -> Result<()> {
        let items = std::mem::take(&mut self.batch);
        let bodies: Vec<&[u8]> = items.iter().map(|p| p.body.as_slice()).collect();
        let body = targets::body(self.opts.target, &self.opts.source_system, &bodies);
        let mut line = Vec::with_capacity(body.len() + 256);
        line.extend_from_slice(b"{\"method\":\"POST\",\"url\":");
        serde_json::to_writer(&mut line, &self.url).expect("a string serialises");
        line.extend_from_slice(
            b",\"headers\":{\"Authorization\":\"Bearer <token>\",\"Content-Type\":\"application/json\"},\"body\":",
        );
        line.extend_from_slice(&body);
        line.push(b'}');
        self.out.write_line(&line)?;
        for p in &items {
            self.on_the_way.remove(&p.facts.key_hash);
            self.remember(&p.facts);
        }
        self.counts.dry_requests += 1;
        self.counts.would_send += items.len() as u64;
        Ok(())
    }

    /// Handles finished batches; with `block`, waits for at least one.
    pub(super) fn drain(&mut self, block: bool) -> Result<()> {
        let mut waited = false;
        while self.in_flight > 0 {
            let rx = self.done.as_ref().expect("workers started");
            let done = if block && !waited {
                match rx.recv_timeout(Duration::from_millis(250)) {
                    Ok(d) => d,
                    Err(RecvTimeoutError::Timeout) => {
                        self.show_progress();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        return Err(Error::Other("sender threads ended unexpectedly".into()))
                    }
                }
            } else {
                match rx.try_recv() {
                    Ok(d) => d,
                    Err(_) => break,
                }
            };
            waited = true;
            self.in_flight -= 1;
            self.handle(done)?;
        }
        Ok(())
    }
}
