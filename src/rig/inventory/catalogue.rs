//! The endpoint catalogue: which endpoints every commune and province has, and the probe
//! kind each one is watched with.

use crate::rig::sim::EndpointKind;

/// The probe kinds the generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    Http,
    Tcp,
    Icmp,
    Dns,
}

impl ProbeKind {
    pub const ALL: [ProbeKind; 4] = [
        ProbeKind::Http,
        ProbeKind::Tcp,
        ProbeKind::Icmp,
        ProbeKind::Dns,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Http => "http",
            ProbeKind::Tcp => "tcp",
            ProbeKind::Icmp => "icmp",
            ProbeKind::Dns => "dns",
        }
    }

    /// The simulated endpoint that can stand in for this kind.
    pub fn sim_kind(self) -> EndpointKind {
        match self {
            ProbeKind::Http => EndpointKind::Http,
            ProbeKind::Tcp => EndpointKind::Tcp,
            ProbeKind::Icmp => EndpointKind::Ping,
            ProbeKind::Dns => EndpointKind::Dns,
        }
    }

    /// The target key that holds the endpoint.
    pub(super) fn address_key(self) -> &'static str {
        match self {
            ProbeKind::Http => "url",
            ProbeKind::Tcp => "address",
            ProbeKind::Icmp => "host",
            ProbeKind::Dns => "server",
        }
    }
}

/// Echo requests per ICMP probe of a mobile site, and their spacing: three give a loss figure
/// without tripling the load of a national inventory, and 0.5 s apart they fit any timeout
/// above one second.
pub const ICMP_COUNT: u32 = 3;
pub const ICMP_SPACING: &str = "500ms";

/// Whether an endpoint exists once per commune or once per province.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    Commune,
    Province,
}

/// One row of the endpoint catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// The id suffix (`ht-ky_anh-viettel`) and the key of its illustrative address.
    pub key: &'static str,
    pub operator: &'static str,
    pub service: &'static str,
    pub per: Per,
    pub probe: ProbeKind,
    /// Name prefix; the commune's full name (or the province's) follows.
    pub name: &'static str,
}

/// What a duty officer watches in every commune and province. The commune's link on the
/// government's dedicated data network (the commune level of the central → province → commune
/// connection) is the sixth endpoint of a commune; each province adds its two portals and the
/// resolvers of the four operators that run them there.
pub const CATALOGUE: &[Service] = &[
    Service {
        key: "viettel",
        operator: "viettel",
        service: "mobile",
        per: Per::Commune,
        probe: ProbeKind::Icmp,
        name: "Di động Viettel",
    },
    Service {
        key: "vinaphone",
        operator: "vnpt",
        service: "mobile",
        per: Per::Commune,
        probe: ProbeKind::Icmp,
        name: "Di động VinaPhone (VNPT)",
    },
    Service {
        key: "mobifone",
        operator: "mobifone",
        service: "mobile",
        per: Per::Commune,
        probe: ProbeKind::Icmp,
        name: "Di động MobiFone",
    },
    Service {
        key: "fpt",
        operator: "fpt",
        service: "fixed",
        per: Per::Commune,
        probe: ProbeKind::Http,
        name: "Internet cáp quang FPT",
    },
    Service {
        key: "vnpost",
        operator: "vnpost",
        service: "postal",
        per: Per::Commune,
        probe: ProbeKind::Http,
        name: "Bưu cục VNPost",
    },
    Service {
        key: "tslcd",
        operator: "vnpt",
        service: "government",
        per: Per::Commune,
        probe: ProbeKind::Tcp,
        name: "Mạng truyền số liệu chuyên dùng — UBND",
    },
    Service {
        key: "portal",
        operator: "gov",
        service: "portal",
        per: Per::Province,
        probe: ProbeKind::Http,
        name: "Cổng thông tin điện tử",
    },
    Service {
        key: "dichvucong",
        operator: "gov",
        service: "portal",
        per: Per::Province,
        probe: ProbeKind::Http,
        name: "Cổng dịch vụ công",
    },
    Service {
        key: "dns-viettel",
        operator: "viettel",
        service: "dns",
        per: Per::Province,
        probe: ProbeKind::Dns,
        name: "Máy chủ DNS Viettel",
    },
    Service {
        key: "dns-vnpt",
        operator: "vnpt",
        service: "dns",
        per: Per::Province,
        probe: ProbeKind::Dns,
        name: "Máy chủ DNS VNPT",
    },
    Service {
        key: "dns-mobifone",
        operator: "mobifone",
        service: "dns",
        per: Per::Province,
        probe: ProbeKind::Dns,
        name: "Máy chủ DNS MobiFone",
    },
    Service {
        key: "dns-fpt",
        operator: "fpt",
        service: "dns",
        per: Per::Province,
        probe: ProbeKind::Dns,
        name: "Máy chủ DNS FPT Telecom",
    },
];
