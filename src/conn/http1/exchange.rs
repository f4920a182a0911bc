//! A streamed answer: a CGI program answering an HTTP/1.1 request. The request body goes
//! from the transport to the program (`cgi::Run::feed`), its output from the program to the
//! transport, chunk-encoded for HTTP/1.1 clients (close-delimited for HTTP/1.0), each only as
//! fast as the other side takes it. The program's pipes and its header block are the CGI
//! handler's; this file only moves bytes between the two and frames them.

use super::body::{MAX_DISCARD, Remaining};
use super::{How, Http1, Next, Phase, dispatch, req_line_of};
use crate::conn::transport::{Flushed, Transport};
use crate::handler::Held;
use crate::handler::{Answer, Reply, cgi};
use crate::http::chunked::{LAST_CHUNK, push_chunk};
use crate::http::parse::{self, Header, MAX_HEADERS};
use crate::sys::poll::Interest;
use crate::worker::{ConnId, Token, Worker};

impl Http1 {
    /// A CGI program started: watch its pipes and let the drive loop run it.
    pub(super) fn begin_program(
        &mut self,
        t: &mut Transport,
        w: &mut Worker,
        run: Box<cgi::Run>,
        expect: bool,
    ) -> bool {
        watch_pipes(w, self.id, &run);
        self.cgi = Some(run);
        self.phase = Phase::Streaming;
        self.deadline = w.now + w.cgi_ms;
        if expect
            && matches!(self.remaining, Remaining::Length(_))
            && !t.send_interim(crate::http::response::CONTINUE)
        {
            // Part of the interim response may be on the wire: nothing can follow it in
            // step, so the connection closes (and the program is killed as it is dropped).
            self.cgi = None;
            self.phase = Phase::Broken;
        }
        true
    }

    /// A chunked body is spooled: start its CGI program with it as stdin.
    pub(super) fn start_spooled_program(
        &mut self,
        t: &mut Transport,
        w: &mut Worker,
        head: Vec<u8>,
        spooled: cgi::Spooled,
    ) {
        if crate::sys::fs::rewind(&spooled.body).is_err() {
            return self.respond_error(t, w, 500, None);
        }
        match self.dispatch_held(t, w, &head, false, Held::Spooled(spooled)) {
            None => self.respond_error(t, w, 500, None),
            Some((Answer::Cgi(run), _, _)) => {
                self.begin_program(t, w, run, false);
            }
            Some((_, status, len)) => {
                self.log_begin(w, &req_line_of(&head), status, None);
                self.log_measure(t, status, len);
                self.start_writing(w);
            }
        }
    }

    /// Parse a request head the session holds itself (a chunked CGI request whose body is
    /// now spooled, a WebDAV request whose body is now read, a local redirect) and hand it to
    /// the handlers, as `try_request` does for
    /// heads in the read buffer. `None` if the head does not parse.
    pub(super) fn dispatch_held(
        &mut self,
        t: &mut Transport,
        w: &mut Worker,
        head: &[u8],
        head_only: bool,
        held: Held,
    ) -> Option<(Answer, u16, Option<u64>)> {
        let mut headers = [Header::default(); MAX_HEADERS];
        let Ok(Some((req, _))) = parse::parse(head, &mut headers) else {
            return None;
        };
        let how = How {
            close: self.close_after,
            keep_alive_10: self.ka10,
            head_only,
        };
        let (_, queue) = t.split();
        let (status, len, close, answer, route) =
            dispatch(&req, queue, w, self.client(), how, held);
        self.route = route;
        // A file that shrank under its answer closes the connection after it.
        self.close_after |= close;
        Some((answer, status, len))
    }

    /// Run the exchange as far as it can go: request body to the program's stdin, its
    /// stderr to the error log, its output to the client, each only as fast as the other
    /// side takes it.
    pub(super) fn drive_program(
        &mut self,
        t: &mut Transport,
        w: &mut Worker,
        run: &mut cgi::Run,
        budget: &mut usize,
    ) -> Next {
        // A client that closed its side after sending the whole request has left (as nginx
        // and lighttpd take it): the program is killed rather than left to run to its timeout.
        if t.gone() || (t.hung_up() && matches!(self.remaining, Remaining::None)) {
            return Next::Close;
        }
        loop {
            let mut progress = false;
            // 1. Output waiting for the client goes first; nothing more is read from the
            //    program until it is out (backpressure towards the program).
            if !t.out_sent() {
                let res = t.flush(budget, false);
                if t.take_progress() {
                    self.deadline = w.now + w.cgi_ms;
                }
                self.resp_sent += t.take_sent();
                match res {
                    Ok(Flushed::Done) => progress = true,
                    Ok(Flushed::Budget) => return Next::Yield,
                    Ok(Flushed::Blocked) => {}
                    Err(_) => return Next::Close,
                }
            }
            // 2. The request body, into the program's stdin as far as it takes it.
            if run.wants_body()
                && let Remaining::Length(left) = &mut self.remaining
            {
                if !t.has_buffered() && *left > 0 && t.read_ready() {
                    match t.fill(&mut w.pool) {
                        crate::conn::transport::Fill::Closed => return Next::Close,
                        crate::conn::transport::Fill::Got => progress = t.has_buffered(),
                        _ => {}
                    }
                }
                if t.has_buffered() {
                    let data = t.buffered();
                    let n = (data.len() as u64).min(*left) as usize;
                    match run.feed(&data[..n]) {
                        cgi::Feed::Took(k) => {
                            t.consume(k);
                            *left -= k as u64;
                            progress = true;
                        }
                        cgi::Feed::Full => {}
                        cgi::Feed::Refused => {
                            // The program will not read its input: stop feeding it, and
                            // close the connection after the answer rather than read the rest.
                            self.remaining = Remaining::None;
                            self.close_after = true;
                        }
                    }
                }
                if matches!(self.remaining, Remaining::Length(0)) {
                    self.remaining = Remaining::None;
                }
            }
            if run.wants_body() && matches!(self.remaining, Remaining::None) {
                run.end_body(); // EOF on the program's stdin
            }
            // 3. stderr, to the error log.
            progress |= run.pump_stderr();
            // 4. The program's output, when the previous piece has gone to the client.
            if t.out_sent() {
                let mut tmp = [0u8; 16 * 1024];
                match run.read_output(&mut tmp) {
                    cgi::Output::Blocked => {}
                    cgi::Output::HeadPartial => progress = true,
                    cgi::Output::Body(n) => {
                        progress = true;
                        if !run.head_only {
                            run.sent += n as u64;
                            self.push_body(t, &tmp[..n], run.chunked);
                        }
                    }
                    cgi::Output::Head(head, rest) => {
                        progress = true;
                        self.program_head(t, w, run, &head);
                        if !rest.is_empty() && !run.head_only {
                            run.sent += rest.len() as u64;
                            self.push_body(t, &rest, run.chunked);
                        }
                    }
                    cgi::Output::Redirect(loc) => return self.local_redirect(t, w, run, &loc),
                    cgi::Output::End => return self.program_done(t, w, run),
                    cgi::Output::Failed(why) => {
                        crate::sys::log_error(format_args!("barehttpd: cgi {}: {why}", run.script));
                        return self.program_failed(t, w, run, 502);
                    }
                }
            }
            if !progress {
                return Next::Wait;
            }
        }
    }

    /// Queue streamed body bytes: one chunk (RFC 9112 §7.1), or the raw bytes for a
    /// close-delimited body. The framing is counted as bytes that are not body.
    fn push_body(&mut self, t: &mut Transport, data: &[u8], chunked: bool) {
        let out = t.out_buf();
        if chunked {
            self.resp_expect += push_chunk(out, data);
        } else {
            out.extend_from_slice(data);
        }
    }

    /// Write the client's response head from the program's header block.
    fn program_head(
        &mut self,
        t: &mut Transport,
        w: &mut Worker,
        run: &mut cgi::Run,
        head: &crate::http::cgi::CgiHead,
    ) {
        // HTTP/1.0 clients get a close-delimited body.
        let close = self.close_after || !run.chunked;
        let secure = t.is_tls();
        let (out, body) = t.new_response(&mut w.pool);
        let (date, site) = (&w.clock.imf, w.served.extras(self.route, secure));
        let ka10 = self.ka10 && !close;
        let mut reply = Reply::new(out, body, date, site, close, ka10, run.head_only);
        let status = run.answer_head(head, &mut reply, run.chunked);
        self.close_after = close;
        let (line, agent) = (run.line.clone(), run.agent.clone());
        self.log_begin(w, &line, status, agent.as_deref());
        self.log_measure(t, status, None);
    }

    /// The program closed its output after a complete header block.
    fn program_done(&mut self, t: &mut Transport, w: &mut Worker, run: &mut cgi::Run) -> Next {
        // A program killed by a signal may have stopped mid-body: end the connection
        // without the last chunk, so the client knows the answer is incomplete.
        if run.crashed() == Some(true) {
            crate::sys::log_error(format_args!(
                "barehttpd: cgi {}: killed by a signal mid-response",
                run.script
            ));
            return Next::Close;
        }
        if run.chunked && !run.head_only {
            t.out_buf().extend_from_slice(LAST_CHUNK);
            self.resp_expect += LAST_CHUNK.len() as u64;
        }
        match self.remaining {
            Remaining::None => {}
            // The program finished before reading all of the body: if the rest is already
            // here, drop it and keep the connection; the Reading phase drops up to
            // MAX_DISCARD more as it arrives; past that, close after the answer.
            Remaining::Length(left) if left <= MAX_DISCARD => {}
            _ => {
                self.remaining = Remaining::None;
                self.close_after = true;
            }
        }
        self.start_writing(w);
        Next::Wait
    }

    /// The program failed before its header block was complete: answer `status` instead.
    fn program_failed(
        &mut self,
        t: &mut Transport,
        w: &mut Worker,
        run: &mut cgi::Run,
        status: u16,
    ) -> Next {
        let line = run.line.clone();
        self.respond_error(t, w, status, Some(&line));
        Next::Wait
    }

    /// RFC 3875 §6.2.2: answer as if the client had asked for `loc` with GET.
    fn local_redirect(
        &mut self,
        t: &mut Transport,
        w: &mut Worker,
        run: &mut cgi::Run,
        loc: &[u8],
    ) -> Next {
        self.redirects += 1;
        let head = cgi::redirect_head(loc, &run.host);
        let Some(head) = head.filter(|_| self.redirects <= cgi::MAX_LOCAL_REDIRECTS) else {
            crate::sys::log_error(format_args!(
                "barehttpd: cgi {}: bad or looping local redirect",
                run.script
            ));
            return self.program_failed(t, w, run, 502);
        };
        // The program that asked is done: its slot is free for the next one (`--cgi-max 1`
        // must not refuse a redirect to another program).
        run.retire();
        match self.dispatch_held(t, w, &head, run.head_only, Held::None) {
            None => self.program_failed(t, w, run, 502),
            Some((Answer::Cgi(next_run), _, _)) => {
                // The new program replaces this one, which is killed (with its process
                // group, if still running) as it is dropped by this assignment; the new one
                // gets a whole --cgi-timeout of its own.
                // The new run was asked for by a GET; the client's HEAD still wants the
                // head alone.
                let head_only = run.head_only;
                *run = *next_run;
                run.head_only |= head_only;
                watch_pipes(w, self.id, run);
                self.deadline = w.now + w.cgi_ms;
                Next::Wait
            }
            Some((_, status, len)) => {
                let (line, agent) = (run.line.clone(), run.agent.clone());
                self.log_begin(w, &line, status, agent.as_deref());
                self.log_measure(t, status, len);
                self.start_writing(w);
                Next::Wait
            }
        }
    }
}

/// Watch a CGI program's pipes with its connection's pipe token.
fn watch_pipes(w: &Worker, id: ConnId, run: &cgi::Run) {
    for fd in run.pipes() {
        let _ = w.watch(fd, Token::Pipe(id), Interest::Stream);
    }
}
