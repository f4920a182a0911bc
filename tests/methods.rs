//! Request methods on a static resource (RFC 9110 §9, §15.5.6, §15.6.2).

mod common;

use common::*;

fn allow_set(r: &Response) -> Vec<String> {
    let allow = r
        .header("allow")
        .unwrap_or_else(|| panic!("no Allow in {:?}", r.headers));
    allow.split(',').map(|m| m.trim().to_string()).collect()
}

fn assert_allows_get_head_options(r: &Response, what: &str) {
    let set = allow_set(r);
    for m in ["GET", "HEAD", "OPTIONS"] {
        assert!(
            set.iter().any(|x| x == m),
            "{what}: Allow {set:?} lacks {m}"
        );
    }
}

/// RFC 9110 §9.3.7: OPTIONS asks which communication options are available, for a resource or
/// (with `*`) the server as a whole; a 200 answer carries Allow (§10.2.1) and, with no
/// content, Content-Length: 0.
#[test]
fn rfc9110_9_3_7_options_lists_allowed_methods() {
    let root = basic_root();
    let s = Server::start(&root.www, &[]);
    let mut c = s.connect();
    for target in ["/", "*", "/hello.txt"] {
        c.send(format!("OPTIONS {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let r = c.response();
        assert_eq!(r.status, 200, "OPTIONS {target}");
        assert_allows_get_head_options(&r, &format!("OPTIONS {target}"));
        assert_eq!(r.header("content-length"), Some("0"), "OPTIONS {target}");
    }
}

/// RFC 9110 §15.5.6: a method the resource does not support → 405, and "the origin server
/// MUST generate an Allow header field" listing the ones it does.
#[test]
fn rfc9110_15_5_6_post_put_delete_are_405_with_allow() {
    let root = basic_root();
    let s = Server::start(&root.www, &[]);
    for m in ["POST", "PUT", "DELETE", "PATCH"] {
        let r = s.request(
            format!("{m} /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi").as_bytes(),
        );
        assert_eq!(r.status, 405, "{m}");
        assert_allows_get_head_options(&r, m);
        assert!(
            !allow_set(&r).iter().any(|x| x == m),
            "{m}: Allow lists the refused method"
        );
    }
    // The file is untouched.
    assert_eq!(s.get("/hello.txt").body, HELLO);
}

/// RFC 9110 §15.6.2: "The 501 (Not Implemented) status code indicates that the server does not
/// support the functionality required to fulfill the request ... when the server does not
/// recognize the request method". Methods are case-sensitive (§9.1), so `get` is unknown too.
#[test]
fn rfc9110_15_6_2_unknown_method_is_501() {
    let root = basic_root();
    let s = Server::start(&root.www, &[]);
    for m in ["BREW", "get", "PROPFIND"] {
        let r = s.request(format!("{m} /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        // A WebDAV server (feature `dav`) knows PROPFIND: where neither listing nor writing
        // is on, it is not allowed (405), as RFC 4918 leaves it to the server.
        let want = if m == "PROPFIND" && cfg!(feature = "dav") {
            405
        } else {
            501
        };
        assert_eq!(r.status, want, "{m}");
        assert!(!contains(&r.body, HELLO), "{m}");
    }
}
