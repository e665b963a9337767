//! The endpoints: which method and path mean which [`Action`], and what a body may hold.

use crate::types::ApiError;

/// What a request asks the VMM to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `GET /vm`: state, configuration, uptime, boot time.
    GetVm,
    /// `GET /vm/devices`: the PCI topology.
    GetDevices,
    /// `PUT /vm/pause`: park the vCPUs.
    Pause,
    /// `PUT /vm/resume`: let them run again.
    Resume,
    /// `PUT /vm/power-off`: press the guest's power button (an orderly shutdown request).
    PowerOff,
    /// `PUT /vm/reset`: reboot the VM (as a guest reboot does).
    Reset,
}

/// Every endpoint: path, method, action.
pub const ENDPOINTS: [(&str, &str, Action); 6] = [
    ("/vm", "GET", Action::GetVm),
    ("/vm/devices", "GET", Action::GetDevices),
    ("/vm/pause", "PUT", Action::Pause),
    ("/vm/resume", "PUT", Action::Resume),
    ("/vm/power-off", "PUT", Action::PowerOff),
    ("/vm/reset", "PUT", Action::Reset),
];

/// The action for `method` and `target` (a query string is ignored, one trailing slash is
/// allowed). Unknown paths give 404, a known path with another method 405.
pub fn route(method: &str, target: &str) -> Result<Action, ApiError> {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let path = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    let mut allowed = None;
    for (p, m, action) in ENDPOINTS {
        if p == path {
            if m == method {
                return Ok(action);
            }
            allowed = Some(m);
        }
    }
    match allowed {
        Some(m) => Err(ApiError::new(
            405,
            format!("{path} takes {m}, not {}", printable(method)),
        )),
        None => Err(ApiError::new(
            404,
            format!(
                "no endpoint {}; the endpoints are {}",
                printable(path),
                ENDPOINTS
                    .iter()
                    .map(|(p, m, _)| format!("{m} {p}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Checks a request body: `GET`s ignore theirs; the actions take no parameters, so a `PUT`
/// body must be empty or a JSON object with no members (`{}`).
pub fn check_body(action: Action, body: &[u8]) -> Result<(), ApiError> {
    if matches!(action, Action::GetVm | Action::GetDevices) {
        return Ok(());
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(400, format!("the request body is not valid JSON: {e}")))?;
    match value.as_object() {
        Some(o) if o.is_empty() => Ok(()),
        Some(o) => Err(ApiError::new(
            400,
            format!(
                "this action takes no parameters, but the body has {}; send no body or {{}}",
                o.keys()
                    .map(|k| format!("'{}'", printable(k)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        None => Err(ApiError::new(
            400,
            "the request body must be a JSON object ({}) or empty",
        )),
    }
}

/// `s` cut to 64 characters with control characters escaped, for error messages.
pub fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(64).flat_map(char::escape_debug).collect();
    if s.chars().count() > 64 {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_every_endpoint() {
        assert_eq!(route("GET", "/vm"), Ok(Action::GetVm));
        assert_eq!(route("GET", "/vm/"), Ok(Action::GetVm));
        assert_eq!(route("GET", "/vm?pretty=1"), Ok(Action::GetVm));
        assert_eq!(route("GET", "/vm/devices"), Ok(Action::GetDevices));
        assert_eq!(route("PUT", "/vm/pause"), Ok(Action::Pause));
        assert_eq!(route("PUT", "/vm/resume"), Ok(Action::Resume));
        assert_eq!(route("PUT", "/vm/power-off"), Ok(Action::PowerOff));
        assert_eq!(route("PUT", "/vm/reset"), Ok(Action::Reset));
    }

    #[test]
    fn wrong_method_is_405_unknown_path_404() {
        let e = route("POST", "/vm/pause").unwrap_err();
        assert_eq!(e.status, 405);
        assert_eq!(e.message, "/vm/pause takes PUT, not POST");
        let e = route("PUT", "/vm").unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (405, "/vm takes GET, not PUT")
        );
        let e = route("GET", "/vms").unwrap_err();
        assert_eq!(e.status, 404);
        assert!(
            e.message
                .starts_with("no endpoint /vms; the endpoints are GET /vm, GET /vm/devices"),
            "{}",
            e.message
        );
        assert_eq!(route("GET", "").unwrap_err().status, 404);
        assert_eq!(route("GET", "/").unwrap_err().status, 404);
        assert_eq!(route("GET", "//vm").unwrap_err().status, 404);
        let e = route("GET", "/\u{1b}[31m").unwrap_err();
        assert!(e.message.contains("\\u{1b}"), "{}", e.message);
    }

    #[test]
    fn bodies() {
        assert!(check_body(Action::Pause, b"").is_ok());
        assert!(check_body(Action::Pause, b" {} \n").is_ok());
        assert!(check_body(Action::GetVm, b"garbage").is_ok());
        let e = check_body(Action::Pause, b"{not json").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.message.starts_with("the request body is not valid JSON"),
            "{}",
            e.message
        );
        let e = check_body(Action::Reset, br#"{"force": true}"#).unwrap_err();
        assert_eq!(
            e.message,
            "this action takes no parameters, but the body has 'force'; send no body or {}"
        );
        assert_eq!(
            check_body(Action::PowerOff, b"[1,2]").unwrap_err().status,
            400
        );
        assert_eq!(
            check_body(Action::PowerOff, b"\xff\xfe")
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn printable_cuts_and_escapes() {
        assert_eq!(printable("a\nb"), "a\\nb");
        assert_eq!(printable(&"x".repeat(70)), format!("{}...", "x".repeat(64)));
    }
}
