//! Does a PostgreSQL URL answer? A minimal client of the wire protocol (startup, `select 1`),
//! so that the finder needs no database driver and builds in seconds on a fresh machine.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// How long [`answers`] waits for a server, per step (connect, each reply).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// What a server said to a connection attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// It let the URL's user in and answered `select 1`.
    Ready,
    /// A PostgreSQL server is there and asked for credentials this probe does not check (md5,
    /// SCRAM, or a password the URL does not hold): the application's driver will.
    Credentials,
    /// The server refused the connection or the query (its message).
    Refused(String),
    /// Nothing answered (or not PostgreSQL, or not a URL this probe can read).
    Unreachable(String),
}

/// Whether `url` lets its user in and answers `select 1`: how the finder checks the servers it
/// knows (the local one and its private cluster, both trust auth).
pub fn answers(url: &str) -> bool {
    probe(url, PROBE_TIMEOUT) == Probe::Ready
}

/// Connects to `url` (TCP or a Unix socket, no TLS) and runs `select 1`.
pub fn probe(url: &str, timeout: Duration) -> Probe {
    let info = match ConnInfo::parse(url, |name| std::env::var(name).ok()) {
        Ok(info) => info,
        Err(e) => return Probe::Unreachable(e),
    };
    let result = match &info.endpoint {
        Endpoint::Tcp(host) => connect_tcp(host, info.port, timeout).and_then(|mut s| {
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            talk(&mut s, &info)
        }),
        Endpoint::Socket(dir) => UnixStream::connect(dir.join(format!(".s.PGSQL.{}", info.port)))
            .and_then(|mut s| {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                talk(&mut s, &info)
            }),
    };
    result.unwrap_or_else(|e| Probe::Unreachable(e.to_string()))
}

fn connect_tcp(host: &str, port: u16, timeout: Duration) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// A host name or address.
    Tcp(String),
    /// The directory of a Unix socket (`.s.PGSQL.<port>` in it).
    Socket(PathBuf),
}

/// What the probe needs from a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnInfo {
    pub(crate) endpoint: Endpoint,
    pub(crate) port: u16,
    pub(crate) user: String,
    pub(crate) password: Option<String>,
    pub(crate) database: String,
}

impl ConnInfo {
    /// Reads `postgres://[user[:password]@][host][:port][/database][?host=..&port=..&user=..
    /// &password=..&dbname=..]` as libpq does: no host is the socket directory
    /// `/var/run/postgresql`, a host starting with `/` is a socket directory, the user defaults
    /// to `PGUSER` then `USER`, the password to `PGPASSWORD`, the database to the user.
    pub(crate) fn parse(url: &str, var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| "not a postgres:// URL".to_string())?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (mut user, mut password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((name, pw)) => (decode(name)?, Some(decode(pw)?)),
                None => (decode(u)?, None),
            },
            None => (String::new(), None),
        };
        // Several hosts (`h1:5432,h2:5432`): the first one.
        let hostport = hostport.split(',').next().unwrap_or_default();
        let (mut host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or("unclosed [ in the host")?;
            (
                addr.to_string(),
                after.strip_prefix(':').unwrap_or_default(),
            )
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (decode(h)?, p),
                None => (decode(hostport)?, ""),
            }
        };
        let mut port = port.to_string();
        let mut database = decode(path)?;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value)?;
            match key {
                "host" => host = value,
                "port" => port = value,
                "user" => user = value,
                "password" => password = Some(value),
                "dbname" => database = value,
                _ => {}
            }
        }
        if user.is_empty() {
            user = var("PGUSER")
                .or_else(|| var("USER"))
                .unwrap_or_else(|| "postgres".into());
        }
        if password.is_none() {
            password = var("PGPASSWORD");
        }
        if database.is_empty() {
            database = user.clone();
        }
        let port = if port.is_empty() {
            5432
        } else {
            port.parse()
                .map_err(|_| format!("`{port}` is not a port number"))?
        };
        let endpoint = if host.is_empty() {
            Endpoint::Socket(PathBuf::from("/var/run/postgresql"))
        } else if host.starts_with('/') {
            Endpoint::Socket(PathBuf::from(host))
        } else {
            Endpoint::Tcp(host)
        };
        Ok(Self {
            endpoint,
            port,
            user,
            password,
            database,
        })
    }
}

/// Percent-decoding.
fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in `{s}`"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{s}` is not UTF-8 once decoded"))
}

/// The URL with its password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?'])
        .map_or(url.len(), |i| scheme_end + i);
    let authority = &url[scheme_end..authority_end];
    match authority.rsplit_once('@') {
        Some((userinfo, _)) if userinfo.contains(':') => {
            let user_end = scheme_end + userinfo.find(':').unwrap_or(0);
            let at = scheme_end + userinfo.len();
            format!("{}:***{}", &url[..user_end], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// The conversation: startup, authentication (trust, or a cleartext password), `select 1`.
fn talk(stream: &mut (impl Read + Write), info: &ConnInfo) -> std::io::Result<Probe> {
    let mut startup = Vec::new();
    startup.extend_from_slice(&196_608_i32.to_be_bytes()); // protocol 3.0
    for (key, value) in [("user", &info.user), ("database", &info.database)] {
        startup.extend_from_slice(key.as_bytes());
        startup.push(0);
        startup.extend_from_slice(value.as_bytes());
        startup.push(0);
    }
    startup.push(0);
    send(stream, None, &startup)?;
    loop {
        let (kind, body) = receive(stream)?;
        match kind {
            b'R' => match body
                .get(..4)
                .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            {
                Some(0) => {}
                Some(3) if info.password.is_some() => {
                    let mut pw = info.password.clone().unwrap_or_default().into_bytes();
                    pw.push(0);
                    send(stream, Some(b'p'), &pw)?;
                }
                _ => return Ok(Probe::Credentials),
            },
            b'E' => return Ok(Probe::Refused(error_message(&body))),
            b'Z' => break,
            _ => {} // parameter status, backend key, notices
        }
    }
    send(stream, Some(b'Q'), b"select 1\0")?;
    let mut rows = 0;
    loop {
        let (kind, body) = receive(stream)?;
        match kind {
            b'D' => rows += 1,
            b'E' => return Ok(Probe::Refused(error_message(&body))),
            b'Z' => break,
            _ => {}
        }
    }
    let _ = send(stream, Some(b'X'), b"");
    Ok(if rows == 1 {
        Probe::Ready
    } else {
        Probe::Refused(format!("`select 1` returned {rows} rows"))
    })
}

fn send(stream: &mut impl Write, kind: Option<u8>, body: &[u8]) -> std::io::Result<()> {
    let mut message = Vec::with_capacity(body.len() + 5);
    message.extend(kind);
    let len = i32::try_from(body.len() + 4).map_err(std::io::Error::other)?;
    message.extend_from_slice(&len.to_be_bytes());
    message.extend_from_slice(body);
    stream.write_all(&message)?;
    stream.flush()
}

fn receive(stream: &mut impl Read) -> std::io::Result<(u8, Vec<u8>)> {
    let mut header = [0u8; 5];
    stream.read_exact(&mut header)?;
    let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    if !(4..=1 << 20).contains(&len) {
        return Err(std::io::Error::other("not a PostgreSQL server"));
    }
    let mut body = vec![0u8; len as usize - 4];
    stream.read_exact(&mut body)?;
    Ok((header[0], body))
}

/// The `M` (message) field of an ErrorResponse.
fn error_message(body: &[u8]) -> String {
    body.split(|b| *b == 0)
        .find_map(|field| field.strip_prefix(b"M"))
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .unwrap_or_else(|| "error".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> ConnInfo {
        ConnInfo::parse(url, |name| (name == "USER").then(|| "alice".to_string())).unwrap()
    }

    #[test]
    fn urls_are_read_as_libpq_reads_them() {
        assert_eq!(
            parse("postgres://postgres@127.0.0.1:55432/postgres"),
            ConnInfo {
                endpoint: Endpoint::Tcp("127.0.0.1".into()),
                port: 55432,
                user: "postgres".into(),
                password: None,
                database: "postgres".into(),
            }
        );
        let info = parse("postgresql://app:p%40ss@db.example:6000/shop?sslmode=disable");
        assert_eq!(info.endpoint, Endpoint::Tcp("db.example".into()));
        assert_eq!((info.port, info.user.as_str()), (6000, "app"));
        assert_eq!(info.password.as_deref(), Some("p@ss"));
        assert_eq!(info.database, "shop");
        // Defaults: port 5432, the OS user, the database named after the user.
        let info = parse("postgres://localhost");
        assert_eq!((info.port, info.user.as_str()), (5432, "alice"));
        assert_eq!(info.database, "alice");
        // No host: the Debian socket directory; a host= parameter naming a directory: a socket.
        assert_eq!(
            parse("postgres:///db").endpoint,
            Endpoint::Socket("/var/run/postgresql".into())
        );
        let info = parse("postgres:///db?host=/tmp&port=55432&user=bob");
        assert_eq!(info.endpoint, Endpoint::Socket("/tmp".into()));
        assert_eq!((info.port, info.user.as_str()), (55432, "bob"));
        assert_eq!(
            parse("postgres://[::1]:7/x").endpoint,
            Endpoint::Tcp("::1".into())
        );
        assert_eq!(parse("postgres://[::1]:7/x").port, 7);
        assert!(ConnInfo::parse("mysql://x", |_| None).is_err());
        assert!(ConnInfo::parse("postgres://h:notaport/x", |_| None).is_err());
    }

    #[test]
    fn passwords_are_redacted_in_messages() {
        assert_eq!(
            redact("postgres://app:secret@db:5432/shop"),
            "postgres://app:***@db:5432/shop"
        );
        assert_eq!(redact(crate::LOCAL_URL), crate::LOCAL_URL);
        assert_eq!(redact("postgres://h/db?x=a:b@c"), "postgres://h/db?x=a:b@c");
    }

    /// A scripted server: what it sends, and what the client wrote.
    struct Fake {
        replies: std::io::Cursor<Vec<u8>>,
        written: Vec<u8>,
    }

    impl Read for Fake {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.replies.read(buf)
        }
    }

    impl Write for Fake {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    fn run(replies: &[Vec<u8>], url: &str) -> (Probe, Vec<u8>) {
        let mut fake = Fake {
            replies: std::io::Cursor::new(replies.concat()),
            written: Vec::new(),
        };
        let info = ConnInfo::parse(url, |_| None).unwrap();
        let probe = talk(&mut fake, &info).unwrap_or_else(|e| Probe::Unreachable(e.to_string()));
        (probe, fake.written)
    }

    #[test]
    fn the_probe_speaks_the_wire_protocol() {
        let ok = message(b'R', &0i32.to_be_bytes());
        let ready = message(b'Z', b"I");
        let row = message(b'D', b"\0\x01\0\0\0\x011");
        let (probe, written) = run(
            &[ok.clone(), ready.clone(), row.clone(), ready.clone()],
            "postgres://postgres@h/postgres",
        );
        assert_eq!(probe, Probe::Ready);
        assert!(written.windows(9).any(|w| w == b"select 1\0"));
        assert!(written.windows(9).any(|w| w == b"postgres\0"));
        // md5 or SCRAM: a server is there, the driver checks the credentials.
        let (probe, _) = run(&[message(b'R', &10i32.to_be_bytes())], "postgres://u@h/d");
        assert_eq!(probe, Probe::Credentials);
        // A cleartext password the URL holds is sent.
        let (probe, written) = run(
            &[
                message(b'R', &3i32.to_be_bytes()),
                ok,
                ready.clone(),
                row,
                ready,
            ],
            "postgres://u:pw@h/d",
        );
        assert_eq!(probe, Probe::Ready);
        assert!(written.windows(3).any(|w| w == b"pw\0"));
        // Refusals carry the server's message.
        let (probe, _) = run(
            &[message(
                b'E',
                b"SFATAL\0C3D000\0Mdatabase \"d\" does not exist\0\0",
            )],
            "postgres://u@h/d",
        );
        assert_eq!(
            probe,
            Probe::Refused("database \"d\" does not exist".into())
        );
        // Not PostgreSQL.
        let (probe, _) = run(
            &[b"HTTP/1.1 400 Bad Request\r\n".to_vec()],
            "postgres://u@h/d",
        );
        assert!(matches!(probe, Probe::Unreachable(_)), "{probe:?}");
    }

    #[test]
    fn nothing_listening_is_unreachable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port(); // bound then dropped: nothing listens there now
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        assert!(matches!(
            probe(&url, Duration::from_secs(1)),
            Probe::Unreachable(_)
        ));
        assert!(!answers(&url));
    }
}
