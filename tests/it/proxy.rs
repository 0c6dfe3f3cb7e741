//! A TCP proxy that can cut a connection part-way, to test delivery across faults.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Proxy {
    pub port: u16,
    target: Arc<AtomicU16>,
    cut_next: Arc<AtomicUsize>,
    pub cuts: Arc<AtomicUsize>,
    live: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Listens on 127.0.0.1; forwards to the port given by `set_target`.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = Arc::new(AtomicU16::new(0));
        let cut_next = Arc::new(AtomicUsize::new(usize::MAX));
        let cuts = Arc::new(AtomicUsize::new(0));
        let live: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Default::default();
        let (to, cut, count, conns) =
            (target.clone(), cut_next.clone(), cuts.clone(), live.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let limit = cut.swap(usize::MAX, Ordering::SeqCst);
                let count = count.clone();
                let target = to.load(Ordering::SeqCst);
                let handle = tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    pipe(client, server, limit, count).await;
                });
                conns.lock().unwrap().push(handle.abort_handle());
            }
        });
        Self {
            port,
            target,
            cut_next,
            cuts,
            live,
            task,
        }
    }

    pub fn set_target(&self, port: u16) {
        self.target.store(port, Ordering::SeqCst);
    }

    /// Closes every open connection, as a network failure would.
    pub fn reset(&self) {
        for handle in self.live.lock().unwrap().drain(..) {
            handle.abort();
        }
    }

    /// The next connection is cut after `bytes` bytes from client to server.
    pub fn cut_next_connection_after(&self, bytes: usize) {
        self.cut_next.store(bytes, Ordering::SeqCst);
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}

async fn pipe(client: TcpStream, server: TcpStream, limit: usize, cuts: Arc<AtomicUsize>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async {
        let mut sent = 0usize;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if sent + n > limit {
                let _ = server_write.write_all(&buf[..limit - sent]).await;
                cuts.fetch_add(1, Ordering::SeqCst);
                return;
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
            sent += n;
        }
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    };
    // When either direction ends, both sockets close: a cut is a cut both ways.
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
}
