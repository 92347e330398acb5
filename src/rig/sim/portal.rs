//! A simulated provincial portal on loopback for the `portal` probe: a dynamic home page
//! (rotating news, the date and time, visitor counters, a random banner, all drawn from a
//! seeded generator so a run is reproducible) and, on command, each kind of compromise seen on
//! government portals: a visible defacement, injected hidden gambling links, a script from a
//! foreign origin, a replaced title, spam served only to crawlers, and a redirect to another
//! site. The "foreign" site is a second listener on another loopback address.
//!
//! ```no_run
//! # async fn demo() -> Result<(), commwatch::rig::sim::SimError> {
//! use commwatch::rig::sim::portal::{Compromise, PortalSim};
//! let sim = PortalSim::start(7).await?;
//! let url = sim.url(); // "http://127.0.0.1:PORT/"
//! sim.set(Compromise::HiddenGambling); // the next page carries dark links
//! sim.shutdown().await;
//! # let _ = url; Ok(()) }
//! ```

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::SimError;
use super::http::{read_head, reason};

/// A client that does not finish its request head within this time is dropped.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more wait in the accept queue.
const MAX_CONNECTIONS: usize = 256;

/// What the portal serves right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compromise {
    /// The dynamic page as its editors publish it.
    None,
    /// The page replaced by a defacer's message (with markup in its text, as such messages
    /// have: evidence must be escaped wherever it is shown).
    Defaced,
    /// Links to gambling sites in an off-screen block.
    HiddenGambling,
    /// A script loaded from the foreign site.
    ForeignScript,
    /// The page's title replaced, everything else as usual.
    TitleReplaced,
    /// Hidden gambling links and spam text served only to a Googlebot user agent.
    CrawlerSpam,
    /// `302` to the foreign site.
    Redirect,
}

struct State {
    compromise: Mutex<Compromise>,
    hits: AtomicU64,
    seed: u64,
}

impl State {
    fn compromise(&self) -> Compromise {
        // A plain Copy enum: whole even if a holder panicked.
        *self.compromise.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running simulated portal. Dropping it stops serving; [`PortalSim::shutdown`] also waits.
pub struct PortalSim {
    addr: SocketAddr,
    foreign: SocketAddr,
    state: Arc<State>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl PortalSim {
    /// Binds the portal on 127.0.0.1 and the foreign site on 127.0.0.2 (ports chosen by the
    /// kernel) and starts serving; `seed` fixes every page's dynamic content.
    pub async fn start(seed: u64) -> Result<PortalSim, SimError> {
        let bind = |a: SocketAddr| async move {
            TcpListener::bind(a).await.map_err(|e| SimError::Bind(a, e))
        };
        let portal = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let foreign = bind(SocketAddr::from(([127, 0, 0, 2], 0))).await?;
        let local =
            |l: &TcpListener, a: SocketAddr| l.local_addr().map_err(|e| SimError::Bind(a, e));
        let addr = local(&portal, SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let foreign_addr = local(&foreign, SocketAddr::from(([127, 0, 0, 2], 0)))?;
        let state = Arc::new(State {
            compromise: Mutex::new(Compromise::None),
            hits: AtomicU64::new(0),
            seed,
        });
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let origin = format!("http://{foreign_addr}");
        tasks.spawn(accept(
            portal,
            Site::Portal {
                state: state.clone(),
                foreign: origin.clone(),
            },
            shutdown.clone(),
        ));
        tasks.spawn(accept(foreign, Site::Foreign, shutdown.clone()));
        Ok(PortalSim {
            addr,
            foreign: foreign_addr,
            state,
            shutdown,
            tasks,
        })
    }

    /// The portal's home page, as a target's `url`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The foreign site's origin (`http://127.0.0.2:PORT`).
    pub fn foreign_origin(&self) -> String {
        format!("http://{}", self.foreign)
    }

    /// What the next requests are served; in effect when this returns.
    pub fn set(&self, c: Compromise) {
        *self
            .state
            .compromise
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = c;
    }

    /// Requests the portal has answered.
    pub fn hits(&self) -> u64 {
        self.state.hits.load(Ordering::Relaxed)
    }

    /// Closes both listeners and waits until every connection has ended.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

impl Drop for PortalSim {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[derive(Clone)]
enum Site {
    Portal { state: Arc<State>, foreign: String },
    Foreign,
}

async fn accept(listener: TcpListener, site: Site, stop: CancellationToken) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut conns = JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = stop.cancelled() => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
            _ = stop.cancelled() => break,
        };
        let site = site.clone();
        let stop = stop.clone();
        conns.spawn(async move {
            tokio::select! {
                _ = serve(stream, &site) => {}
                _ = stop.cancelled() => {}
            }
            drop(permit);
        });
        // Reap finished connections so the set stays as small as the connections open.
        while conns.try_join_next().is_some() {}
    }
    conns.shutdown().await;
}

async fn serve(mut stream: TcpStream, site: &Site) {
    let Ok(Ok(Some(head))) = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await
    else {
        return;
    };
    let head = String::from_utf8_lossy(&head);
    let crawler = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("user-agent:") && l.contains("Googlebot"));
    let (status, location, body) = match site {
        Site::Foreign => (200, None, foreign_page()),
        Site::Portal { state, foreign } => {
            let n = state.hits.fetch_add(1, Ordering::Relaxed);
            match state.compromise() {
                Compromise::Redirect => (302, Some(format!("{foreign}/")), String::new()),
                c => (200, None, portal_page(state.seed, n, c, crawler, foreign)),
            }
        }
    };
    let mut response = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    if let Some(l) = location {
        let _ = write!(response, "Location: {l}\r\n");
    }
    let _ = write!(
        response,
        "Content-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(response.as_bytes()).await.is_ok() {
        let _ = stream.shutdown().await;
    }
}

/// SplitMix64: a few lines, the same numbers on every platform and release, unlike a
/// library generator whose stream may change between versions.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, n: u64) -> Rng {
        Rng(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TITLE: &str = "Cổng thông tin điện tử tỉnh Hà Tĩnh";

const NAV: &[(&str, &str)] = &[
    ("/", "Trang chủ"),
    ("/gioi-thieu", "Giới thiệu"),
    ("/tin-tuc", "Tin tức - Sự kiện"),
    ("/chi-dao-dieu-hanh", "Chỉ đạo điều hành"),
    ("/van-ban", "Văn bản"),
    ("/dich-vu-cong", "Dịch vụ công"),
    ("/phong-chong-thien-tai", "Phòng chống thiên tai"),
    ("/lien-he", "Liên hệ"),
];

const INTRO: &[&str] = &[
    "Hà Tĩnh là tỉnh ven biển Bắc Trung Bộ, phía bắc giáp Nghệ An, phía nam giáp Quảng Trị.",
    "Tỉnh có 69 đơn vị hành chính cấp xã sau sắp xếp, gồm các phường và xã.",
    "Cổng thông tin điện tử là kênh cung cấp thông tin chính thức của chính quyền tỉnh.",
    "Người dân có thể nộp hồ sơ trực tuyến qua Cổng dịch vụ công của tỉnh.",
    "Đường dây nóng phòng chống thiên tai hoạt động 24/7 trong mùa mưa bão.",
    "Mọi phản ánh, kiến nghị xin gửi về Văn phòng Ủy ban nhân dân tỉnh.",
];

const NEWS: &[&str] = &[
    "Ủy ban nhân dân tỉnh họp phiên thường kỳ tháng 12",
    "Tiết lộ đề án phát triển du lịch biển giai đoạn mới",
    "Triển khai phương án ứng phó bão số 5 tại các xã ven biển",
    "Khánh thành cầu mới nối hai bờ sông Lam",
    "Hội nghị xúc tiến đầu tư vào khu kinh tế Vũng Áng",
    "Tập huấn chuyển đổi số cho cán bộ cấp xã",
    "Kiểm tra công tác phòng chống sạt lở đất ở vùng núi",
    "Cấp phát gạo hỗ trợ người dân bị ảnh hưởng mưa lũ",
    "Phát động phong trào thi đua chào mừng ngày thành lập tỉnh",
    "Nghiệm thu hệ thống cảnh báo lũ sớm trên sông Ngàn Phố",
    "Tuyên truyền an toàn giao thông dịp cuối năm",
    "Hỗ trợ ngư dân khôi phục tàu thuyền sau bão",
    "Kết quả tuyển sinh lớp 10 năm học mới",
    "Đẩy mạnh thanh toán không dùng tiền mặt tại bệnh viện",
    "Diễn tập phòng thủ dân sự cấp tỉnh năm 2026",
    "Lấy ý kiến nhân dân về quy hoạch đô thị",
    "Ra mắt ứng dụng phản ánh hiện trường trên điện thoại",
    "Sửa chữa đê biển xung yếu trước mùa mưa",
    "Trao tặng nhà tình nghĩa cho gia đình chính sách",
    "Thông báo lịch tiếp công dân của lãnh đạo tỉnh",
];

const BANNERS: &[(&str, &str)] = &[
    (
        "https://dichvucong.example.invalid/",
        "Dịch vụ công trực tuyến toàn trình",
    ),
    (
        "https://baohiem.example.invalid/",
        "Tra cứu bảo hiểm xã hội",
    ),
    ("https://thue.example.invalid/", "Nộp thuế điện tử"),
    (
        "https://khituong.example.invalid/",
        "Bản tin dự báo thời tiết",
    ),
    (
        "https://chinhphu.example.invalid/",
        "Cổng thông tin Chính phủ",
    ),
];

const WEEKDAYS: &[&str] = &[
    "Thứ Hai",
    "Thứ Ba",
    "Thứ Tư",
    "Thứ Năm",
    "Thứ Sáu",
    "Thứ Bảy",
    "Chủ Nhật",
];

/// Injected dark links: off-screen, to gambling sites, in Vietnamese as they are found.
const DARK_LINKS: &str = r#"<div style="position:absolute; left:-9999px; top:0"><a href="https://nhacai.example.invalid/">nhà cái uy tín</a> <a href="https://nohu.example.invalid/">nổ hũ đổi thưởng</a> <a href="https://taixiu.example.invalid/">tai xiu online</a></div>"#;

/// The home page for request `n`.
fn portal_page(seed: u64, n: u64, c: Compromise, crawler: bool, foreign: &str) -> String {
    if c == Compromise::Defaced {
        return DEFACED.to_string();
    }
    let mut rng = Rng::new(seed, n);
    let title = if c == Compromise::TitleReplaced {
        "Trang web đang được bảo trì"
    } else {
        TITLE
    };
    let mut s = String::with_capacity(16 * 1024);
    let _ = write!(
        s,
        r#"<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/static/site.css"><script src="/static/app.js"></script>"#
    );
    if c == Compromise::ForeignScript {
        let _ = write!(s, r#"<script src="{foreign}/jquery.min.js"></script>"#);
    }
    s.push_str("</head><body><header><h1>");
    s.push_str(TITLE);
    s.push_str("</h1>");
    let second = n % 60;
    let minute = (n / 60) % 60;
    let _ = write!(
        s,
        "<div class=\"date\">{}, 04/12/2026 {:02}:{minute:02}:{second:02}</div></header><nav><ul>",
        WEEKDAYS[(n / 3600 % 7) as usize],
        8 + n / 3600 % 12,
    );
    for (href, text) in NAV {
        let _ = write!(s, r#"<li><a href="{href}">{text}</a></li>"#);
    }
    s.push_str("</ul></nav><main>");
    let (href, text) = BANNERS[rng.below(BANNERS.len())];
    let _ = write!(
        s,
        r#"<div class="banner"><a href="{href}"><img src="/banner/{}.jpg" alt="">{text}</a></div>"#,
        rng.below(1000)
    );
    s.push_str("<section><h2>Giới thiệu chung</h2>");
    for p in INTRO {
        let _ = write!(s, "<p>{p}</p>");
    }
    s.push_str("</section><section><h2>Tin tức - Sự kiện</h2><ul>");
    let first = rng.below(NEWS.len());
    for i in 0..6 {
        let k = (first + i * (1 + rng.below(3))) % NEWS.len();
        let _ = write!(
            s,
            r#"<li><a href="/tin-tuc/{k}-{n}">{}</a> <span>({:02}/12/2026)</span></li>"#,
            NEWS[k],
            1 + rng.below(28)
        );
    }
    s.push_str("</ul></section>");
    if c == Compromise::HiddenGambling || (c == Compromise::CrawlerSpam && crawler) {
        s.push_str(DARK_LINKS);
    }
    if c == Compromise::CrawlerSpam && crawler {
        s.push_str("<p>Nhà cái uy tín số 1: cá cược bóng đá, nổ hũ, tài xỉu mỗi ngày.</p>");
    }
    let _ = write!(
        s,
        r#"<aside><h2>Thống kê truy cập</h2><p>Đang trực tuyến: {}</p><p>Lượt truy cập: {}</p>
<h2>Thời tiết</h2><p>Hà Tĩnh {}°C, độ ẩm {}%</p>
<iframe src="https://maps.example.invalid/embed?q=ha-tinh"></iframe></aside>
<form action="/tim-kiem"><input name="q"></form></main>"#,
        20 + rng.below(400),
        1_234_567 + n * 7 + rng.below(7) as u64,
        18 + rng.below(15),
        60 + rng.below(40)
    );
    s.push_str(
        "<footer><p>Cơ quan chủ quản: Ủy ban nhân dân tỉnh Hà Tĩnh</p>\
         <p>Địa chỉ: số 1 đường Nguyễn Tất Thành, thành phố Hà Tĩnh</p>\
         <p>Điện thoại: 0239 3855 555</p><p>Bản quyền thuộc Cổng thông tin điện tử tỉnh</p>\
         </footer></body></html>",
    );
    s
}

/// What defacers leave: the page gone, a boast with markup in its text.
const DEFACED: &str = r#"<!doctype html><html><head><title>HACKED BY Sh4d0w Team</title></head>
<body style="background:#000;color:#0f0"><h1>Hacked by Sh4d0w &lt;script&gt;alert(1)&lt;/script&gt; Team</h1>
<p>Your security is zero. Greetz to all crews.</p></body></html>"#;

/// The foreign site: a gambling page.
fn foreign_page() -> String {
    "<!doctype html><html><head><title>Nhà cái uy tín</title></head><body>\
     <h1>Nhà cái số 1</h1><p>Cá cược, nổ hũ, tài xỉu: đăng ký ngay.</p></body></html>"
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_reproducible_and_dynamic() {
        let a = portal_page(7, 3, Compromise::None, false, "http://x");
        assert_eq!(a, portal_page(7, 3, Compromise::None, false, "http://x"));
        assert_ne!(a, portal_page(7, 4, Compromise::None, false, "http://x"));
        assert_ne!(a, portal_page(8, 3, Compromise::None, false, "http://x"));
    }

    #[test]
    fn crawler_spam_is_served_to_crawlers_only() {
        let browser = portal_page(1, 1, Compromise::CrawlerSpam, false, "http://x");
        let crawler = portal_page(1, 1, Compromise::CrawlerSpam, true, "http://x");
        assert!(!browser.contains("nhacai"));
        assert!(crawler.contains("nhacai"));
    }
}
