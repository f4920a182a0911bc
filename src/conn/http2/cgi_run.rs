//! A CGI program answering one stream: its pipes are watched with
//! the connection's pipe token, so the worker drives the connection when it writes; its
//! header block becomes the stream's HEADERS and its output the stream's DATA, one piece at a
//! time, read only when the previous piece is sent (backpressure towards the program, as over
//! HTTP/1.1). A local redirect is dispatched again on the same stream (`local_redirect`).
//! The program's environment, pipes and header rules are the CGI handler's.

use super::*;
use crate::handler::cgi::Output;
use crate::sys::poll::Interest;
use crate::worker::Token;

/// The most program output read per stream per pass (one piece, sent as DATA).
const PIECE: usize = 16 * 1024;

impl Http2 {
    /// A program started for stream `i`: watch its pipes and let `pump_programs` run it.
    pub(super) fn begin_program(&mut self, w: &mut Worker, i: usize, run: Box<cgi::Run>) {
        for fd in run.pipes() {
            let _ = w.watch(fd, Token::Pipe(self.id), Interest::Stream);
        }
        let s = &mut self.streams[i];
        s.body = Body::None;
        s.inline.clear();
        s.inline_pos = 0;
        s.piece.clear();
        s.piece_pos = 0;
        s.piece_more = true;
        s.cgi_by = w.now + w.cgi_ms;
        s.cgi = Some(run);
    }

    /// Read what the streams' programs wrote, for those whose last piece is out. True if
    /// anything came.
    pub(super) fn pump_programs(&mut self, t: &Transport, w: &mut Worker) -> bool {
        let mut progress = false;
        let mut i = 0;
        while i < self.streams.len() {
            let before = self.streams.len();
            progress |= self.pump_one(t, w, i);
            if self.streams.len() == before {
                i += 1;
            }
        }
        progress
    }

    fn pump_one(&mut self, t: &Transport, w: &mut Worker, i: usize) -> bool {
        let s = &mut self.streams[i];
        let Some(run) = s.cgi.as_mut() else {
            return false;
        };
        let mut progress = run.pump_stderr();
        // The request body held for the program, as far as its stdin takes it; then the
        // window it kept shut, and the end of its input once the client's side ended.
        if matches!(s.sink, Sink::Program) && !s.held.is_empty() {
            match run.feed(&s.held) {
                cgi::Feed::Took(k) => {
                    s.held.drain(..k);
                    progress = true;
                }
                cgi::Feed::Full => {}
                cgi::Feed::Refused => {
                    s.held.clear();
                    s.sink = Sink::Drop;
                }
            }
            if s.held.is_empty() {
                if s.recv_closed {
                    run.end_body();
                    s.sink = Sink::Drop;
                } else if s.recv_consumed > 0 {
                    frame::write_window_update(&mut self.ctrl, s.id, s.recv_consumed);
                    s.recv_window += s.recv_consumed as i64;
                    s.recv_consumed = 0;
                }
            }
        }
        if s.piece_pos < s.piece.len() {
            return progress;
        }
        let mut tmp = [0u8; PIECE];
        match run.read_output(&mut tmp) {
            Output::Blocked => {}
            Output::HeadPartial => progress = true,
            Output::Body(n) => {
                progress = true;
                if !run.head_only {
                    run.sent += n as u64;
                    s.piece.clear();
                    s.piece.extend_from_slice(&tmp[..n]);
                    s.piece_pos = 0;
                }
            }
            Output::Head(head, rest) => {
                progress = true;
                let site = w.served.extras(s.route, t.is_tls());
                let mut body = Body::None;
                self.scratch.clear();
                let mut reply = Reply::new(
                    &mut self.scratch,
                    &mut body,
                    &w.clock.imf,
                    site,
                    false,
                    false,
                    run.head_only,
                );
                let status = run.answer_head(&head, &mut reply, false);
                let (line, agent) = (run.line.clone(), run.agent.clone());
                let head_only = run.head_only;
                if w.log.enabled() {
                    w.log.begin(
                        &mut s.log,
                        s.client.as_ref(),
                        &w.clock.clf,
                        &line,
                        status,
                        None,
                        agent.as_deref(),
                    );
                }
                s.piece.clear();
                s.piece_pos = 0;
                if !head_only {
                    s.piece.extend_from_slice(&rest);
                    run.sent += rest.len() as u64;
                } else {
                    // No body will be sent: the program's output is not wanted.
                    s.cgi = None;
                    s.piece_more = false;
                }
                s.head_only = head_only;
                self.emit_head(w, i, status);
            }
            Output::End => {
                progress = true;
                if run.crashed() == Some(true) {
                    // Killed mid-body: the stream is cut short, not ended.
                    let id = s.id;
                    self.reset(w, id, ErrorCode::Internal);
                    return true;
                }
                s.cgi = None;
                s.piece_more = false;
                if s.piece_pos >= s.piece.len() && s.answered && !s.sent_end {
                    // Nothing left to send: END_STREAM on an empty DATA frame.
                    let id = s.id;
                    s.sent_end = true;
                    frame::write_head(&mut self.ctrl, 0, frame::DATA, frame::FLAG_END_STREAM, id);
                    self.finish_sent(w, i);
                }
            }
            Output::Redirect(loc) => {
                self.local_redirect(t, w, i, &loc);
                return true;
            }
            Output::Failed(why) => {
                progress = true;
                crate::sys::log_error(format_args!("barehttpd: cgi {}: {why}", run.script));
                if s.answered {
                    let id = s.id;
                    self.reset(w, id, ErrorCode::Internal);
                } else {
                    s.cgi = None;
                    s.piece_more = false;
                    self.answer_error(t, w, i, 502);
                }
            }
        }
        progress
    }

    /// RFC 3875 §6.2.2: the program answered only `Location: /local/path`: answer as if
    /// the client had asked for that path with GET, on the same stream, as HTTP/1.1 does
    /// (at most `cgi::MAX_LOCAL_REDIRECTS` for one request, then 502).
    fn local_redirect(&mut self, t: &Transport, w: &mut Worker, i: usize, loc: &[u8]) {
        let s = &mut self.streams[i];
        s.redirects += 1;
        let Some(run) = s.cgi.as_mut() else {
            return;
        };
        let head = cgi::redirect_head(loc, &run.host);
        let Some(head) = head.filter(|_| !s.answered && s.redirects <= cgi::MAX_LOCAL_REDIRECTS)
        else {
            crate::sys::log_error(format_args!(
                "barehttpd: cgi {}: bad or looping local redirect",
                run.script
            ));
            if s.answered {
                let id = s.id;
                return self.reset(w, id, ErrorCode::Internal);
            }
            s.cgi = None;
            s.piece_more = false;
            return self.answer_error(t, w, i, 502);
        };
        // The program that asked is done: its `--cgi-max` slot is free for the next one.
        run.retire();
        let redirect = stream::Redirected {
            head_only: run.head_only,
            agent: run.agent.clone(),
        };
        // The rest of the request body is not wanted by a GET: what was held for the
        // program goes, and the window it kept shut opens.
        s.sink = Sink::Drop;
        s.held.clear();
        self.reopen_window(i);
        self.redispatch(t, w, i, &head, Held::None, Some(redirect));
    }
}
