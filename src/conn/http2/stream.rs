//! One stream's exchange: its header block turned into a `Request` and handed to the
//! handlers, its request body from DATA frames, its answer turned into HEADERS and DATA.

use super::*;

impl Http2 {
    /// A whole header block for `id`: a new request, or a stream's trailers.
    pub(super) fn on_block(
        &mut self,
        t: &Transport,
        w: &mut Worker,
        id: u32,
        block: &[u8],
        end_stream: bool,
    ) -> Result<(), ErrorCode> {
        self.hbuf.clear();
        self.fields.clear();
        let too_large = match self.dec.decode(
            block,
            &mut self.hbuf,
            &mut self.fields,
            MAX_HEADER_LIST as usize,
        ) {
            Ok(()) => false,
            Err(hpack::Error::TooLarge) => true,
            // §4.3: the decoding state is lost with the block.
            Err(hpack::Error::Compression) => return Err(ErrorCode::Compression),
        };
        if let Some(i) = self.find(id) {
            // Trailers (§8.1): they end the stream, and carry no pseudo-header.
            let s = &self.streams[i];
            if s.recv_closed {
                self.reset(w, id, ErrorCode::StreamClosed);
                return Ok(());
            }
            if !end_stream {
                return Err(ErrorCode::Protocol);
            }
            if !too_large && request::check_trailers(&self.hbuf, &self.fields).is_err() {
                self.reset(w, id, ErrorCode::Protocol);
                return Ok(());
            }
            return self.end_of_body(t, w, i);
        }
        if id.is_multiple_of(2) {
            return Err(ErrorCode::Protocol);
        }
        if id <= self.last_stream {
            // Trailers sent before our RST_STREAM reached the client: ignored (§5.1), the
            // block decoded above.
            if self.was_reset(id) {
                return Ok(());
            }
            // A closed stream (§5.1: HEADERS there is a connection error STREAM_CLOSED), or
            // an id lower than one already used (§5.1.1: PROTOCOL_ERROR).
            return Err(if self.closed_ids.contains(&id) {
                ErrorCode::StreamClosed
            } else {
                ErrorCode::Protocol
            });
        }
        self.last_stream = id;
        if self.draining {
            // After our GOAWAY: streams above its last id are ignored (§6.8).
            return Ok(());
        }
        if self.streams.len() >= MAX_CONCURRENT_STREAMS as usize {
            frame::write_rst(&mut self.ctrl, id, ErrorCode::RefusedStream);
            self.note_reset(id);
            return self.count_reset(w);
        }
        let mut s = self.spare.pop().unwrap_or_else(|| Box::new(Stream::new()));
        s.id = id;
        s.recv_closed = end_stream;
        s.answered = false;
        s.sent_end = false;
        s.send_window = self.peer_window as i64;
        s.recv_window = STREAM_WINDOW as i64;
        s.recv_consumed = 0;
        s.received = 0;
        s.expect = None;
        s.inline.clear();
        s.inline_pos = 0;
        s.piece.clear();
        s.piece_pos = 0;
        s.piece_more = false;
        s.stalled_since = None;
        s.status = 0;
        s.body_sent = 0;
        s.redirects = 0;
        s.holds_body = false;
        s.client = self.peer;
        s.route = None;
        s.line.clear();
        self.streams.push(s);
        let i = self.streams.len() - 1;
        if too_large {
            self.answer_error(t, w, i, 431);
            return Ok(());
        }
        let p = match request::check(&self.hbuf, &self.fields) {
            Ok(p) => p,
            Err(_) => {
                // §8.1.1: a malformed request is a stream error PROTOCOL_ERROR.
                self.reset(w, id, ErrorCode::Protocol);
                return Ok(());
            }
        };
        if end_stream && p.content_length.is_some_and(|n| n > 0) {
            self.reset(w, id, ErrorCode::Protocol);
            return Ok(());
        }
        self.streams[i].expect = p.content_length;
        self.begin_request(t, w, i, &p, end_stream);
        Ok(())
    }

    /// Build the request from the checked fields and hand it to the handlers.
    fn begin_request(
        &mut self,
        t: &Transport,
        w: &mut Worker,
        i: usize,
        p: &request::Pseudo,
        end_stream: bool,
    ) {
        let r = |r: &Option<std::ops::Range<usize>>| r.clone().unwrap_or(0..0);
        let (m, path, auth) = (r(&p.method), r(&p.path), p.authority.clone());
        // Cookie crumbs joined into one field (§8.2.3), behind the decoded fields.
        let cookie = if p.cookies > 1 {
            let start = self.hbuf.len();
            for f in &self.fields {
                if self.hbuf[f.name.clone()] == *b"cookie" {
                    if self.hbuf.len() > start {
                        self.hbuf.extend_from_slice(b"; ");
                    }
                    let v = f.value.clone();
                    self.hbuf.extend_from_within(v);
                }
            }
            Some(start..self.hbuf.len())
        } else {
            None
        };
        self.line.clear();
        self.line.extend_from_slice(&self.hbuf[m.clone()]);
        self.line.push(b' ');
        // A CONNECT names no :path (§8.5): its line shows the authority, as HTTP/1.1's
        // authority-form does.
        let shown = p.path.clone().or_else(|| auth.clone()).unwrap_or(0..0);
        self.line.extend_from_slice(&self.hbuf[shown]);
        self.line.extend_from_slice(b" HTTP/2.0");
        let s = &mut self.streams[i];
        s.line.clear();
        s.line.extend_from_slice(&self.line);
        let buf = &self.hbuf;
        let mut headers = [Header::default(); MAX_HEADERS];
        let mut n = 0;
        let mut host_field = None;
        let mut overflow = false;
        // Fields looked at only for a request with a body to come (`expect`) or from a
        // trusted proxy (forwarding): a plain GET pays one test per field.
        let trusted = trusted_peer(w, self.peer);
        let mut forwarded = false;
        for f in &self.fields {
            let name = &buf[f.name.clone()];
            if name.starts_with(b":") || (cookie.is_some() && name == b"cookie") {
                continue;
            }
            if name == b"host" {
                host_field = Some(&buf[f.value.clone()]);
            }
            // Forwarding fields count only from a trusted proxy: a plain request pays one
            // test per field.
            if trusted {
                forwarded |= matches!(name, b"forwarded" | b"x-forwarded-for");
            }
            if n == MAX_HEADERS {
                overflow = true;
                break;
            }
            headers[n] = Header {
                name,
                value: &buf[f.value.clone()],
            };
            n += 1;
        }
        if let Some(c) = &cookie {
            if n == MAX_HEADERS {
                overflow = true;
            } else {
                headers[n] = Header {
                    name: b"cookie",
                    value: &buf[c.clone()],
                };
                n += 1;
            }
        }
        let authority = auth.map(|a| &buf[a]);
        // §8.3.1: :authority, else Host; the two naming different hosts is malformed.
        let host = authority.or(host_field);
        let method_raw = &buf[m];
        let bad = authority.is_some_and(|a| host_field.is_some_and(|h| h != a))
            || method_raw.is_empty()
            || !method_raw.iter().all(|&b| parse::is_tchar(b))
            || host.is_some_and(|h| !parse::valid_host(h));
        let id = self.streams[i].id;
        if bad {
            self.reset(w, id, ErrorCode::Protocol);
            return;
        }
        // As HTTP/1.1 answers a request line this long (the path is most of it; its limit
        // counts the line's CR too).
        if self.line.len() >= parse::MAX_REQUEST_LINE {
            self.answer_error(t, w, i, 414);
            return;
        }
        if overflow {
            self.answer_error(t, w, i, 431);
            return;
        }
        if p.expect_other {
            // RFC 9110 §10.1.1: an expectation the server cannot meet.
            self.answer_error(t, w, i, 417);
            return;
        }
        let framing = match p.content_length {
            Some(n) => Framing::Length(n),
            None if end_stream => Framing::None,
            None => Framing::Chunked,
        };
        let req = Request {
            method: Method::from_token(method_raw),
            method_raw,
            target: &buf[path],
            version: Version::Http2,
            line: &self.line,
            headers: &headers[..n],
            host,
            framing,
            keep_alive: true,
            // RFC 9110 §10.1.1: only while the body is still to come.
            expect_continue: p.expect_continue && !end_stream,
        };
        if forwarded {
            self.streams[i].client = forwarded_client(w, &req, self.peer);
        }
        let client = self.streams[i].client;
        let head_only = req.method == Method::Head;
        let (referer, agent) = (req.header("referer"), req.header("user-agent"));
        let (answer, status, body_len, route) = {
            let s = &mut self.streams[i];
            s.head_only = head_only;
            dispatch(
                &req,
                t,
                w,
                client,
                &mut self.scratch,
                &mut s.body,
                head_only,
                Held::None,
            )
        };
        self.streams[i].route = Some(route);
        self.streams[i].holds_body = req.expect_continue;
        if req.expect_continue
            && matches!(
                answer,
                Answer::Upload(_) | Answer::DavBody | Answer::Cgi(_) | Answer::CgiBuffer(_)
            )
        {
            let max = self.peer_max_frame as usize;
            let (enc, block) = (&mut self.enc, &mut self.hblock);
            write_continue(enc, block, &mut self.ctrl, &mut self.streams[i], max);
        }
        match answer {
            Answer::Done => {
                let _ = body_len;
                if w.log.enabled() {
                    w.log.begin(
                        &mut self.streams[i].log,
                        client.as_ref(),
                        &w.clock.clf,
                        &self.line,
                        status,
                        referer,
                        agent,
                    );
                }
                self.emit_head(w, i, status);
            }
            Answer::Upload(up) => {
                // Logged when it is finished, with the bytes received.
                self.streams[i].sink = Sink::Upload(up);
                if end_stream {
                    let _ = self.end_of_body(t, w, i);
                }
            }
            Answer::DavBody => {
                let head = held_head(&self.line, host, &headers[..n], end_stream);
                self.streams[i].sink = Sink::Buffer(head, Vec::new());
                if end_stream {
                    let _ = self.end_of_body(t, w, i);
                }
            }
            Answer::Verify(pending) => {
                let head = held_head(&self.line, host, &headers[..n], end_stream);
                self.verify(t, w, i, *pending, head);
            }
            Answer::Cgi(mut run) => {
                if end_stream {
                    run.end_body(); // no request body: EOF on the program's stdin
                } else {
                    self.streams[i].sink = Sink::Program;
                }
                self.begin_program(w, i, run);
            }
            Answer::CgiBuffer(program) => {
                let head = held_head(&self.line, host, &headers[..n], end_stream);
                self.begin_spool(t, w, i, head, program);
            }
        }
    }

    /// An error answer of our own (431 for a header list over the limit, 502 for a CGI
    /// program that failed).
    pub(super) fn answer_error(&mut self, t: &Transport, w: &mut Worker, i: usize, status: u16) {
        self.answer_own(t, w, i, |reply| reply.error(status));
    }

    /// An answer of the session's own on stream `i`, written by `write` through a `Reply`
    /// with the default site's extras, then sent.
    fn answer_own(
        &mut self,
        t: &Transport,
        w: &mut Worker,
        i: usize,
        write: impl FnOnce(&mut Reply),
    ) {
        let site = w.served.extras(self.streams[i].route, t.is_tls());
        let s = &mut self.streams[i];
        s.body = Body::None;
        self.scratch.clear();
        let mut reply = Reply::new(
            &mut self.scratch,
            &mut s.body,
            &w.clock.imf,
            site,
            false,
            false,
            false,
        );
        write(&mut reply);
        let status = reply.status;
        if w.log.enabled() && !s.log.is_open() {
            // Logged as the handlers' answers are (HTTP/1.1 logs its own errors too); a
            // header block too large to keep has no request line.
            let line: &[u8] = if s.line.is_empty() { b"-" } else { &s.line };
            let client = s.client;
            w.log.begin(
                &mut s.log,
                client.as_ref(),
                &w.clock.clf,
                line,
                status,
                None,
                None,
            );
        }
        self.emit_head(w, i, status);
    }

    /// DATA for a stream.
    pub(super) fn on_data(
        &mut self,
        t: &Transport,
        w: &mut Worker,
        id: u32,
        end_stream: bool,
        data: &[u8],
        flow_len: u32,
    ) -> Result<(), ErrorCode> {
        // The connection's window counts every DATA frame, whatever its stream (§6.9).
        if flow_len as i64 > self.recv_window {
            return Err(ErrorCode::FlowControl);
        }
        self.recv_window -= flow_len as i64;
        self.recv_consumed += flow_len;
        if self.recv_consumed >= CONN_WINDOW / 2 {
            frame::write_window_update(&mut self.ctrl, 0, self.recv_consumed);
            self.recv_window += self.recv_consumed as i64;
            self.recv_consumed = 0;
        }
        let Some(i) = self.find(id) else {
            if id > self.last_stream {
                return Err(ErrorCode::Protocol);
            }
            // Sent before our RST_STREAM reached the client: ignored (§5.1).
            if !self.was_reset(id) {
                frame::write_rst(&mut self.ctrl, id, ErrorCode::StreamClosed);
            }
            return Ok(());
        };
        let s = &mut self.streams[i];
        if s.recv_closed {
            self.reset(w, id, ErrorCode::StreamClosed);
            return Ok(());
        }
        if flow_len as i64 > s.recv_window {
            self.reset(w, id, ErrorCode::FlowControl);
            return Ok(());
        }
        s.recv_window -= flow_len as i64;
        s.received += data.len() as u64;
        if s.expect.is_some_and(|n| s.received > n) {
            self.reset(w, id, ErrorCode::Protocol);
            return Ok(());
        }
        let failed = match &mut s.sink {
            Sink::Drop => None,
            Sink::Held => {
                s.held.extend_from_slice(data);
                None
            }
            Sink::Program => {
                match s.cgi.as_mut() {
                    Some(run) if s.held.is_empty() => match run.feed(data) {
                        cgi::Feed::Took(k) => s.held.extend_from_slice(&data[k..]),
                        cgi::Feed::Full => s.held.extend_from_slice(data),
                        // The program will not read its input: the rest is dropped.
                        cgi::Feed::Refused => s.sink = Sink::Drop,
                    },
                    Some(_) => s.held.extend_from_slice(data),
                    None => s.sink = Sink::Drop,
                }
                None
            }
            Sink::Upload(up) => up.write(data).err(),
            Sink::Spool(_, file, _) => spool(file, data, s.received, w),
            Sink::Buffer(_, body) => {
                if body.len() + data.len() > handler::MAX_DAV_BODY {
                    Some(handler::Error::TooLarge)
                } else {
                    body.extend_from_slice(data);
                    None
                }
            }
        };
        if let Some(e) = failed {
            // The answer goes now; the rest of the body is not wanted (§8.1).
            s.sink = Sink::Drop;
            self.answer_failure(t, w, i, e);
            return Ok(());
        }
        if end_stream {
            return self.end_of_body(t, w, i);
        }
        let s = &mut self.streams[i];
        if s.sent_end && s.received > MAX_DISCARD {
            // Answered already, and the body nobody reads goes on: the client is told to
            // stop (§8.1: RST_STREAM NO_ERROR after a complete response).
            self.reset(w, id, ErrorCode::NoError);
            return Ok(());
        }
        s.recv_consumed += flow_len;
        // Bytes a program has not taken yet keep the window shut: they are all it may send.
        if s.recv_consumed >= STREAM_WINDOW / 2 && s.held.is_empty() {
            frame::write_window_update(&mut self.ctrl, id, s.recv_consumed);
            s.recv_window += s.recv_consumed as i64;
            s.recv_consumed = 0;
        }
        Ok(())
    }

    /// A handler's error, answered on stream `i` (an upload that failed).
    fn answer_failure(&mut self, t: &Transport, w: &mut Worker, i: usize, e: handler::Error) {
        self.answer_own(t, w, i, |reply| reply.fail(e));
    }

    /// The client's END_STREAM: check the length, then finish an upload or a buffered
    /// WebDAV request.
    fn end_of_body(&mut self, t: &Transport, w: &mut Worker, i: usize) -> Result<(), ErrorCode> {
        let s = &mut self.streams[i];
        s.recv_closed = true;
        let id = s.id;
        if s.expect.is_some_and(|n| n != s.received) {
            // §8.1.1: content-length and the DATA sent disagree.
            self.reset(w, id, ErrorCode::Protocol);
            return Ok(());
        }
        match std::mem::replace(&mut s.sink, Sink::Drop) {
            Sink::Drop => {
                if s.sent_end {
                    self.close_stream(w, i);
                }
            }
            Sink::Program => {
                // EOF on the program's stdin once it has taken what is held.
                if s.held.is_empty() {
                    if let Some(run) = s.cgi.as_mut() {
                        run.end_body();
                    }
                } else {
                    s.sink = Sink::Program;
                }
                if s.sent_end {
                    self.close_stream(w, i);
                }
            }
            Sink::Upload(up) => {
                let site = w.served.extras(s.route, t.is_tls());
                s.body = Body::None;
                self.scratch.clear();
                let (line, agent, received) = (up.line.clone(), up.agent.clone(), up.received);
                let mut reply = Reply::new(
                    &mut self.scratch,
                    &mut s.body,
                    &w.clock.imf,
                    site,
                    false,
                    false,
                    false,
                );
                up.finish(&mut reply);
                let status = reply.status;
                w.log.line(
                    s.client.as_ref(),
                    &w.clock.clf,
                    &line,
                    status,
                    received,
                    None,
                    agent.as_deref(),
                );
                let id = self.streams[i].id;
                self.emit_head(w, i, status);
                // Logged above, with the bytes received. An answer without a body (204)
                // closed the stream already, which counted it, and `i` may now name
                // another stream: look it up again.
                if let Some(k) = self.find(id) {
                    self.streams[k].status = 0;
                    w.stats().response(status, 0);
                }
            }
            Sink::Buffer(head, body) => self.redispatch(t, w, i, &head, Held::Body(body), None),
            Sink::Spool(head, file, program) => {
                if crate::sys::fs::rewind(&file).is_err() {
                    self.answer_error(t, w, i, 500);
                    return Ok(());
                }
                let spooled = cgi::Spooled {
                    program,
                    body: file,
                };
                self.redispatch(t, w, i, &head, Held::Spooled(spooled), None);
            }
            // Still being verified: the body waits in `held` (`resume_verified`).
            Sink::Held => s.sink = Sink::Held,
        }
        Ok(())
    }

    /// Dispatch again a request kept as an HTTP/1.1 head (a WebDAV request whose body is now
    /// read, a write whose credentials are now verified, a CGI request whose body is now
    /// spooled, a CGI local redirect: `redirect`).
    pub(super) fn redispatch(
        &mut self,
        t: &Transport,
        w: &mut Worker,
        i: usize,
        head: &[u8],
        held: Held,
        redirect: Option<Redirected>,
    ) {
        let id = self.streams[i].id;
        let mut headers = [Header::default(); MAX_HEADERS];
        let Ok(Some((mut req, _))) = parse::parse(head, &mut headers) else {
            self.reset(w, id, ErrorCode::Internal);
            return;
        };
        // Kept as HTTP/1.1 text, it still came as a stream.
        req.version = Version::Http2;
        let head_only = redirect
            .as_ref()
            .map_or(req.method == Method::Head, |r| r.head_only);
        let s = &mut self.streams[i];
        let (answer, status, _, route) = dispatch(
            &req,
            t,
            w,
            s.client,
            &mut self.scratch,
            &mut s.body,
            head_only,
            held,
        );
        s.head_only = head_only;
        s.route = Some(route);
        // RFC 9110 §10.1.1: the body the client holds back is now read.
        let expect = req.expect_continue && !s.recv_closed;
        match answer {
            Answer::Done => {
                let s = &mut self.streams[i];
                // A program that redirected is done with (killed if it still runs).
                s.cgi = None;
                s.piece_more = false;
                if w.log.enabled() {
                    // The stream's own request line, whatever head was dispatched.
                    let agent = match &redirect {
                        Some(r) => r.agent.as_deref(),
                        None => req.header("user-agent"),
                    };
                    w.log.begin(
                        &mut s.log,
                        s.client.as_ref(),
                        &w.clock.clf,
                        &s.line,
                        status,
                        req.header("referer"),
                        agent,
                    );
                }
                self.emit_head(w, i, status);
            }
            Answer::Upload(mut up) => {
                if expect {
                    self.send_continue(i);
                }
                // What came while the credentials were checked goes first.
                let s = &mut self.streams[i];
                let held = std::mem::take(&mut s.held);
                if let Err(e) = up.write(&held) {
                    self.answer_failure(t, w, i, e);
                    return;
                }
                let s = &mut self.streams[i];
                s.held = held;
                s.held.clear();
                // Logged with the stream's request line (the head kept is HTTP/1.1 text).
                up.line.clear();
                up.line.extend_from_slice(&s.line);
                s.sink = Sink::Upload(up);
                if s.recv_closed {
                    s.recv_closed = false;
                    let _ = self.end_of_body(t, w, i);
                } else {
                    self.reopen_window(i);
                }
            }
            Answer::DavBody => {
                if expect {
                    self.send_continue(i);
                }
                let s = &mut self.streams[i];
                let body = std::mem::take(&mut s.held);
                s.sink = Sink::Buffer(head.to_vec(), body);
                if s.recv_closed {
                    s.recv_closed = false;
                    let _ = self.end_of_body(t, w, i);
                } else {
                    self.reopen_window(i);
                }
            }
            Answer::Cgi(mut run) => {
                let s = &mut self.streams[i];
                // Logged with the stream's request line (the head kept is HTTP/1.1 text).
                run.line.clear();
                run.line.extend_from_slice(&s.line);
                run.head_only = head_only;
                if !run.wants_body() {
                    // A spooled body is its stdin already; a redirect's GET has none.
                    s.sink = Sink::Drop;
                    s.held.clear();
                    self.reopen_window(i);
                } else if s.recv_closed && s.held.is_empty() {
                    run.end_body();
                    s.sink = Sink::Drop;
                } else {
                    // What is held is fed first (`pump_one`), then the window given back.
                    s.sink = Sink::Program;
                    if expect {
                        self.send_continue(i);
                    }
                }
                self.begin_program(w, i, run);
            }
            Answer::CgiBuffer(program) => {
                if expect {
                    self.send_continue(i);
                }
                self.begin_spool(t, w, i, head.to_vec(), program);
            }
            // Another stream's verdict woke the connection before this one's came (or it
            // was dropped meanwhile): asked again.
            Answer::Verify(pending) => self.verify(t, w, i, *pending, head.to_vec()),
        }
    }

    /// A CGI request with a body of unknown length: the body goes to a spool file
    /// (`Sink::Spool`, with what is held already), and the program starts with it as its
    /// stdin once the client's END_STREAM came (`end_of_body`), as over HTTP/1.1.
    fn begin_spool(
        &mut self,
        t: &Transport,
        w: &mut Worker,
        i: usize,
        head: Vec<u8>,
        program: Box<cgi::Program>,
    ) {
        let Some(file) = crate::conn::spool_file() else {
            return self.answer_error(t, w, i, 500);
        };
        let s = &mut self.streams[i];
        let failed = spool(&file, &s.held, s.received, w);
        s.held.clear();
        if let Some(e) = failed {
            return self.answer_failure(t, w, i, e);
        }
        s.sink = Sink::Spool(head, file, program);
        // The whole body must arrive within --cgi-timeout of its head (`on_timeout`).
        s.cgi_by = w.now + w.cgi_ms;
        if s.recv_closed {
            s.recv_closed = false;
            let _ = self.end_of_body(t, w, i);
        } else {
            self.reopen_window(i);
        }
    }

    /// RFC 9110 §10.1.1, RFC 9113 §8.1: the handler will read the body a client holds back
    /// for `expect: 100-continue`: an interim HEADERS with :status 100 and no END_STREAM,
    /// before the final one. A literal without indexing, it leaves the HPACK table, and so
    /// the memo of `emit_head`, as they were.
    pub(super) fn send_continue(&mut self, i: usize) {
        let max = self.peer_max_frame as usize;
        let (enc, block) = (&mut self.enc, &mut self.hblock);
        write_continue(enc, block, &mut self.ctrl, &mut self.streams[i], max);
    }

    /// Give back the window a stream kept shut while its body was held.
    pub(super) fn reopen_window(&mut self, i: usize) {
        let s = &mut self.streams[i];
        if !s.recv_closed && s.recv_consumed > 0 {
            frame::write_window_update(&mut self.ctrl, s.id, s.recv_consumed);
            s.recv_window += s.recv_consumed as i64;
            s.recv_consumed = 0;
        }
    }

    /// Hand a write's credentials to the verifier threads; the stream waits, its body held
    /// (bounded by its window, which is not given back meanwhile), until the verdict comes
    /// (`resume`). Refused (too many from this client, or the queue full): 429 or 503.
    fn verify(
        &mut self,
        t: &Transport,
        w: &mut Worker,
        i: usize,
        pending: crate::handler::auth::Pending,
        head: Vec<u8>,
    ) {
        use crate::handler::auth::Refused;
        let served = w.served.clone();
        let Some(auth) = served.auth.as_ref() else {
            return self.answer_error(t, w, i, 500);
        };
        let mailbox = w.mailbox.clone();
        let (conn, token, generation) = (self.id, pending.token.clone(), pending.generation);
        let done = Box::new(move |ok| {
            mailbox.post(crate::worker::Verdict {
                conn,
                token,
                ok,
                generation,
            })
        });
        match auth.submit(pending, done) {
            Ok(()) => {
                // What is held already stays (a second submission keeps the body so far).
                let s = &mut self.streams[i];
                s.sink = Sink::Held;
                s.verify_head = Some(head);
            }
            Err(Refused::Limited) => self.answer_failure(t, w, i, handler::Error::TooManyAttempts),
            Err(Refused::Busy) => self.answer_failure(t, w, i, handler::Error::Busy),
        }
    }

    /// Verdicts came: the streams waiting for them are dispatched again.
    pub(super) fn resume_verified(&mut self, t: &Transport, w: &mut Worker) {
        let mut k = 0;
        while k < self.streams.len() {
            let before = self.streams.len();
            if let Some(head) = self.streams[k].verify_head.take() {
                self.redispatch(t, w, k, &head, Held::None, None);
            }
            if self.streams.len() == before {
                k += 1;
            }
        }
    }

    /// Turn the head the handler wrote into `scratch` into a HEADERS frame (HPACK), and
    /// keep the small body behind it.
    pub(super) fn emit_head(&mut self, w: &mut Worker, i: usize, status: u16) {
        let _ = w;
        self.served = true;
        self.hblock.clear();
        let buf = &self.scratch;
        // The same head as the last one memoized (it ends with its blank line, so a match
        // is the whole head), with the encoder where it was then: the same block.
        let state = self.enc.state();
        let head_end = if state.is_some()
            && state == self.memo_state
            && !self.memo_head.is_empty()
            && buf.starts_with(&self.memo_head)
        {
            self.hblock.extend_from_slice(&self.memo_block);
            self.memo_head.len()
        } else {
            let head_end = self.encode_head(status);
            if state.is_some() && self.enc.state() == state {
                self.memo_head.clear();
                self.memo_head.extend_from_slice(&self.scratch[..head_end]);
                self.memo_block.clear();
                self.memo_block.extend_from_slice(&self.hblock);
                self.memo_state = state;
            }
            head_end
        };
        self.finish_head(w, i, status, head_end);
    }

    /// Encode the HTTP/1.1 head in `scratch` into `hblock`; returns where the head ends
    /// (after its blank line), that is where a small body copied behind it starts.
    fn encode_head(&mut self, status: u16) -> usize {
        self.enc.status(status, &mut self.hblock);
        // One pass over the head, a line at a time (each ends with CRLF; the status line
        // first, a blank line last); what follows the blank line is the small body.
        let buf = &self.scratch;
        let line_end = |from: usize| {
            buf[from..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(buf.len(), |p| from + p)
        };
        let mut at = (line_end(0) + 1).min(buf.len());
        let mut head_end = buf.len();
        while at < buf.len() {
            let nl = line_end(at);
            let end = if nl > at && buf[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            let line = &buf[at..end];
            at = (nl + 1).min(buf.len());
            if line.is_empty() {
                head_end = at;
                break;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            self.lname.clear();
            self.lname
                .extend(line[..colon].iter().map(|b| b.to_ascii_lowercase()));
            if matches!(
                &self.lname[..],
                b"connection"
                    | b"keep-alive"
                    | b"transfer-encoding"
                    | b"upgrade"
                    | b"proxy-connection"
            ) {
                continue;
            }
            let value = parse::trim_ows(&line[colon + 1..]);
            self.enc.field(&self.lname, value, &mut self.hblock);
        }
        head_end
    }

    /// The head is encoded in `hblock`: queue the HEADERS, and keep the small body that
    /// followed the head (from `head_end` in `scratch`) for the DATA to come.
    fn finish_head(&mut self, w: &mut Worker, i: usize, status: u16, head_end: usize) {
        let s = &mut self.streams[i];
        s.status = status;
        s.answered = true;
        s.inline.clear();
        s.inline_pos = 0;
        if !s.head_only {
            s.inline.extend_from_slice(&self.scratch[head_end..]);
        } else {
            s.body = Body::None;
        }
        if let Body::Stream { .. } = s.body {
            s.piece_more = true;
        }
        let end = !s.has_body();
        s.sent_end = end;
        let max = self.peer_max_frame as usize;
        frame::write_headers(&mut self.ctrl, s.id, &self.hblock, end, max);
        if crate::sys::trace::enabled() {
            crate::sys::trace::note(
                "h2",
                format!(
                    "send HEADERS stream {} status {status} block {} bytes",
                    s.id,
                    self.hblock.len()
                ),
            );
        }
        if end {
            self.finish_sent(w, i);
        }
    }

    /// Our END_STREAM is queued: the stream closes if the client's side is closed too.
    pub(super) fn finish_sent(&mut self, w: &mut Worker, i: usize) {
        // A body still coming is read and dropped (up to `MAX_DISCARD`, see `on_data`),
        // so its frames are still checked against the stream's state.
        let s = &self.streams[i];
        if s.recv_closed {
            self.close_stream(w, i);
        } else if s.holds_body {
            // A client waiting for a 100 that the final answer replaced sends no body
            // (RFC 9110 §10.1.1): it is told at once that none is wanted (RFC 9113 §8.1,
            // RST_STREAM NO_ERROR after a complete response), not at the header timeout.
            let id = s.id;
            self.reset(w, id, ErrorCode::NoError);
        }
    }

    /// Fill the transport's queue: frames owed, then DATA round-robin. True if anything
    /// was queued.
    pub(super) fn produce(&mut self, t: &mut Transport, w: &mut Worker) -> bool {
        // The queue is sent (`out_sent`): start it over, with a buffer from the pool if the
        // connection gave its own back while idle (no allocation per batch).
        let (out, _) = t.new_response(&mut w.pool);
        let before = out.len();
        out.extend_from_slice(&self.ctrl);
        self.ctrl.clear();
        loop {
            if self.closing || out.len() >= OUT_TARGET {
                break;
            }
            if self.send_window <= 0 {
                // The connection's window is shut: every stream with body waits on it.
                for s in &mut self.streams {
                    if s.answered && !s.sent_end && s.has_body() {
                        s.stalled_since.get_or_insert(w.now);
                    }
                }
                break;
            }
            let mut sent_any = false;
            let n = self.streams.len();
            let mut k = 0;
            while k < n && k < self.streams.len() {
                let i = (self.rr + k) % self.streams.len();
                k += 1;
                let s = &mut self.streams[i];
                if !s.answered || s.sent_end || !s.has_body() {
                    continue;
                }
                if s.send_window <= 0 || self.send_window <= 0 {
                    s.stalled_since.get_or_insert(w.now);
                    continue;
                }
                s.stalled_since = None;
                let room = (s.send_window.min(self.send_window) as usize)
                    .min(DATA_CHUNK)
                    .min(self.peer_max_frame as usize);
                let at = out.len();
                out.extend_from_slice(&[0; HEADER_LEN]);
                match take_body(s, out, room) {
                    Ok(got) => {
                        let done = !s.has_body();
                        let flags = if done { frame::FLAG_END_STREAM } else { 0 };
                        let h = frame::head_bytes(got, frame::DATA, flags, s.id);
                        out[at..at + HEADER_LEN].copy_from_slice(&h);
                        if got == 0 && !done {
                            // A stream source with nothing now: no empty frame.
                            out.truncate(at);
                            continue;
                        }
                        s.send_window -= got as i64;
                        self.send_window -= got as i64;
                        s.body_sent += got as u64;
                        sent_any = true;
                        if done {
                            s.sent_end = true;
                            let id = s.id;
                            self.finish_sent(w, i);
                            // The stream may have left the list: look it up again next round.
                            let _ = id;
                        }
                    }
                    Err(()) => {
                        out.truncate(at);
                        let id = s.id;
                        frame::write_rst(out, id, ErrorCode::Internal);
                        s.body = Body::None;
                        s.sent_end = true;
                        self.close_stream(w, i);
                        self.note_reset(id);
                    }
                }
                if out.len() >= OUT_TARGET {
                    break;
                }
            }
            self.rr = self.rr.wrapping_add(1);
            if !sent_any {
                break;
            }
        }
        out.len() > before
    }

    /// A client reset a stream we had not finished, or we refused one: count it against
    /// the rapid-reset budget.
    pub(super) fn count_reset(&mut self, w: &mut Worker) -> Result<(), ErrorCode> {
        if w.now >= self.resets_since + RESET_PERIOD_MS {
            self.resets = 0;
            self.resets_since = w.now;
        }
        self.resets += 1;
        if self.resets > MAX_RESETS {
            return Err(ErrorCode::EnhanceYourCalm);
        }
        Ok(())
    }

    /// A deadline passed.
    pub fn on_timeout(&mut self, t: &mut Transport, w: &mut Worker) -> Next {
        if self.lingering {
            return Next::Close;
        }
        if self.closing {
            return Next::Close;
        }
        if self.block_stream != 0 && w.now >= self.block_since + w.header_ms {
            self.fail(ErrorCode::Protocol);
            return self.drive(t, w);
        }
        if self
            .settings_sent
            .is_some_and(|at| w.now >= at + SETTINGS_ACK_MS)
        {
            self.fail(ErrorCode::SettingsTimeout);
            return self.drive(t, w);
        }
        if !t.out_sent() && w.now >= self.send_by {
            if t.send_stalled() {
                return Next::Close;
            }
            self.send_by = w.now + w.send_ms;
        }
        // CGI programs past --cgi-timeout are killed: 504 if they had not answered yet
        // (RFC 9110 §15.6.5), else the stream is cut short.
        let mut k = 0;
        while k < self.streams.len() {
            let s = &mut self.streams[k];
            if matches!(s.sink, Sink::Spool(..)) && w.now >= s.cgi_by {
                // RFC 9110 §15.5.9: the body to spool did not come whole in time (as over
                // HTTP/1.1); dropping the spool frees its program's slot.
                s.sink = Sink::Drop;
                self.answer_error(t, w, k, 408);
                k += 1;
                continue;
            }
            if s.cgi.is_none() || w.now < s.cgi_by {
                k += 1;
                continue;
            }
            if let Some(run) = s.cgi.take() {
                crate::sys::log_error(format_args!(
                    "barehttpd: cgi {}: killed after --cgi-timeout",
                    run.script
                ));
            }
            s.piece_more = false;
            if s.answered {
                let id = s.id;
                self.reset(w, id, ErrorCode::Internal);
                continue;
            }
            self.answer_error(t, w, k, 504);
            k += 1;
        }
        // Streams that had no window for a whole send timeout go; if it was the
        // connection's window that stayed shut, the connection goes with them.
        let conn_shut = self.send_window <= 0
            && self
                .streams
                .iter()
                .any(|s| s.stalled_since.is_some_and(|at| w.now >= at + w.send_ms));
        let mut k = 0;
        while k < self.streams.len() {
            let s = &self.streams[k];
            if s.stalled_since.is_some_and(|at| w.now >= at + w.send_ms) {
                let id = s.id;
                self.reset(w, id, ErrorCode::Cancel);
                continue;
            }
            k += 1;
        }
        if conn_shut {
            self.fail(ErrorCode::FlowControl);
            return self.drive(t, w);
        }
        if w.now >= self.last_read + w.header_ms {
            // A body nobody waits for stopped coming (the client waits for a 100 it will not
            // get, or stopped sending when the answer came): the stream is reset with
            // NO_ERROR (§8.1), its answer whole; the connection goes on.
            let mut k = 0;
            while k < self.streams.len() {
                let s = &self.streams[k];
                if s.sent_end && !s.recv_closed {
                    let id = s.id;
                    self.reset(w, id, ErrorCode::NoError);
                    continue;
                }
                k += 1;
            }
        }
        if self.streams.iter().any(|s| !s.recv_closed) && w.now >= self.last_read + w.header_ms {
            // A request body stopped coming.
            self.fail(ErrorCode::Cancel);
            return self.drive(t, w);
        }
        if self.streams.is_empty() && t.out_sent() {
            let limit = if self.served {
                self.idle_since + w.keepalive_ms
            } else {
                self.opened + w.header_ms
            };
            if w.now >= limit {
                self.fail(ErrorCode::NoError);
                return self.drive(t, w);
            }
        }
        self.drive(t, w)
    }

    /// The server is shutting down: GOAWAY (graceful, §6.8), the streams begun finish,
    /// then the connection closes.
    pub fn on_shutdown(&mut self) -> Next {
        if !self.draining && !self.closing {
            frame::write_goaway(&mut self.ctrl, self.last_stream, ErrorCode::NoError);
            self.draining = true;
        }
        Next::Yield
    }

    /// The connection is closing: streams not finished are logged with what they sent.
    pub fn log_end(&mut self, w: &mut Worker) {
        while !self.streams.is_empty() {
            self.close_stream(w, self.streams.len() - 1);
        }
    }

    /// Driving the connection panicked: the connection closes.
    pub fn on_panic(&mut self) -> Next {
        Next::Close
    }
}

/// Move up to `room` body bytes of stream `s` behind `out`; the count. Errors: the file
/// could not be read (it shrank): the stream is reset.
fn take_body(s: &mut Stream, out: &mut Vec<u8>, room: usize) -> Result<usize, ()> {
    let mut got = 0;
    while got < room {
        let want = room - got;
        if s.inline_pos < s.inline.len() {
            let n = want.min(s.inline.len() - s.inline_pos);
            out.extend_from_slice(&s.inline[s.inline_pos..s.inline_pos + n]);
            s.inline_pos += n;
            got += n;
            continue;
        }
        if s.piece_pos < s.piece.len() {
            let n = want.min(s.piece.len() - s.piece_pos);
            out.extend_from_slice(&s.piece[s.piece_pos..s.piece_pos + n]);
            s.piece_pos += n;
            got += n;
            continue;
        }
        match &mut s.body {
            // A CGI program's next piece comes when it writes it (`pump_programs`).
            Body::None if s.cgi.is_some() => break,
            Body::None => {
                s.piece_more = false;
                break;
            }
            Body::Shared { data, pos } => {
                got += take_mem(data, pos, want, out);
                if *pos == data.len() {
                    s.body = Body::None;
                }
            }
            Body::File { file, offset, end } => {
                got += take_file(file, offset, *end, want, out)?;
                if *offset == *end {
                    s.body = Body::None;
                }
            }
            Body::Parts { file, segments } => match segments.front_mut() {
                None => s.body = Body::None,
                Some(Segment::Mem { data, pos }) => {
                    got += take_mem(data, pos, want, out);
                    if *pos == data.len() {
                        segments.pop_front();
                    }
                }
                Some(Segment::File { offset, end }) => {
                    got += take_file(file, offset, *end, want, out)?;
                    if *offset == *end {
                        segments.pop_front();
                    }
                }
            },
            Body::Stream { source, .. } => {
                s.piece.clear();
                s.piece_pos = 0;
                let more = source.fill(&mut s.piece).map_err(|_| ())?;
                if !more {
                    s.body = Body::None;
                    s.piece_more = false;
                }
                if s.piece.is_empty() && more {
                    // Nothing now; the frame goes with what it has.
                    break;
                }
            }
        }
    }
    Ok(got)
}

/// Hand `req` to the handlers with a reply into `head` and `body`: the answer, the status
/// and the body length.
#[allow(clippy::too_many_arguments)]
fn dispatch(
    req: &Request,
    t: &Transport,
    w: &mut Worker,
    peer: Option<SocketAddr>,
    head: &mut Vec<u8>,
    body: &mut Body,
    head_only: bool,
    held: Held,
) -> (Answer, u16, u64, Route) {
    let peers = cgi::Peers {
        remote: peer,
        sock: t.socket(),
    };
    let secure = t.is_tls();
    let served = &w.served;
    let (site, misdirected) =
        match site::pick(&served.sites, served.default_site, req.host, t.sni()) {
            Ok(s) => (s, false),
            Err(s) => (s, true),
        };
    if head.capacity() == 0 {
        *head = w.pool.take_write();
    }
    head.clear();
    *body = Body::None;
    let reading = w.served.reading;
    let mut ctx = w.ctx(peer.map(|a| a.ip()), secure, site, misdirected);
    let (date, extras) = (ctx.date, ctx.extras);
    let mut reply = Reply::new(head, body, date, extras, false, false, head_only);
    let answer = handler::dispatch(req, &mut ctx, &mut reply, peers, held);
    let route = Route {
        site,
        rule: ctx.rule_at,
        reading,
    };
    (answer, reply.status, reply.body_len, route)
}

/// A request kept as an HTTP/1.1 head, to be parsed and dispatched again (`redispatch`): its
/// request line, Host, and fields; a body of unknown length as chunked, so the framing the
/// handlers see is what HTTP/1.1 would give them.
fn held_head(line: &[u8], host: Option<&[u8]>, headers: &[Header], end_stream: bool) -> Vec<u8> {
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(&line[..line.len() - b"2.0".len()]);
    head.extend_from_slice(b"1.1\r\n");
    if let Some(h) = host {
        head.extend_from_slice(b"host: ");
        head.extend_from_slice(h);
        head.extend_from_slice(b"\r\n");
    }
    let mut length = false;
    for h in headers {
        // An expectation other than 100-continue, which this session does not act on,
        // would make the head one the HTTP/1.1 parser refuses (417).
        if h.name == b"host"
            || (h.name == b"expect" && !h.value.eq_ignore_ascii_case(b"100-continue"))
        {
            continue;
        }
        length |= h.name == b"content-length";
        head.extend_from_slice(h.name);
        head.extend_from_slice(b": ");
        head.extend_from_slice(h.value);
        head.extend_from_slice(b"\r\n");
    }
    if !length && !end_stream {
        head.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// Append at most `want` bytes of `data` from `pos` to `out`, moving `pos`: how many.
fn take_mem(data: &[u8], pos: &mut usize, want: usize, out: &mut Vec<u8>) -> usize {
    let n = want.min(data.len() - *pos);
    out.extend_from_slice(&data[*pos..*pos + n]);
    *pos += n;
    n
}

/// Append at most `want` bytes of `file` from `offset` (up to `end`) to `out`, moving
/// `offset`: how many. A file that ends early (it shrank since it was opened) is an error.
fn take_file(
    file: &crate::sys::OwnedFd,
    offset: &mut u64,
    end: u64,
    want: usize,
    out: &mut Vec<u8>,
) -> Result<usize, ()> {
    let n = want.min((end - *offset) as usize);
    if crate::sys::fs::pread_append(file, out, n, *offset) < n {
        return Err(());
    }
    *offset += n as u64;
    Ok(n)
}

/// A CGI local redirect being followed (RFC 3875 §6.2.2): a HEAD's answer has no body, and
/// the access log keeps the User-Agent of the request that ran the program.
pub(super) struct Redirected {
    pub head_only: bool,
    pub agent: Option<Vec<u8>>,
}

/// Whether the connection's peer is one of `--trusted-proxy`'s (none given: no one).
fn trusted_peer(w: &Worker, peer: Option<SocketAddr>) -> bool {
    #[cfg(feature = "ops")]
    return !w.served.config.trusted_proxies.is_empty() && w.served.trusts(peer);
    #[cfg(not(feature = "ops"))]
    {
        let _ = (w, peer);
        false
    }
}

/// The client a trusted proxy names in this request's fields, else the peer.
fn forwarded_client(w: &Worker, req: &Request, peer: Option<SocketAddr>) -> Option<SocketAddr> {
    #[cfg(feature = "ops")]
    return crate::http::forwarded::request_client(req, &w.served.config.trusted_proxies).or(peer);
    #[cfg(not(feature = "ops"))]
    {
        let _ = (w, req);
        peer
    }
}

/// Append request-body bytes to a CGI request's spool file: at most `--cgi-max-body` in all
/// (`received`, these included), 413 past it, as over HTTP/1.1.
fn spool(file: &std::fs::File, data: &[u8], received: u64, w: &Worker) -> Option<handler::Error> {
    if received > w.served.config.cgi_max_body {
        return Some(handler::Error::TooLarge);
    }
    crate::sys::fs::write_all(file, data)
        .err()
        .map(|_| handler::Error::Internal)
}

/// `Http2::send_continue`, on the session's parts (`begin_request` has its fields borrowed).
fn write_continue(
    enc: &mut hpack::Encoder,
    block: &mut Vec<u8>,
    ctrl: &mut Vec<u8>,
    s: &mut Stream,
    max: usize,
) {
    if s.recv_closed || s.answered {
        return;
    }
    s.holds_body = false;
    block.clear();
    enc.status(100, block);
    frame::write_headers(ctrl, s.id, block, false, max);
    if crate::sys::trace::enabled() {
        crate::sys::trace::note("h2", format!("send HEADERS stream {} status 100", s.id));
    }
}
