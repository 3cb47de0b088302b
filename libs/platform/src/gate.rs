//! The gate every business RPC passes before its handler runs (issue 16):
//!
//! 1. **Authentication**: the bearer token is verified ([`AuthInterceptor`])
//!    and the [`Actor`] goes into the request extensions.
//! 2. **Role**: the service's static [`AccessTable`] says which roles may call
//!    each method. A method missing from the table is refused: deny by
//!    default. `PERMISSION_DENIED` says which roles may call it.
//! 3. **Size**: the request is read only up to the method's limit
//!    ([`Size::Standard`], 256 KiB by default; [`Size::Upload`] only for
//!    uploads, sized by the service from `objects.max_object_bytes`); a
//!    larger one is `RESOURCE_EXHAUSTED`, decided from the gRPC length
//!    prefix before the body is buffered.
//! 4. **Input**: the message's wire bytes are walked against its descriptor
//!    from the contract ([`yuetan_proto::FILE_DESCRIPTOR_SET`], read with
//!    `prost-reflect`) without building the message: a text field holding
//!    U+0000 or invalid UTF-8, a text longer than its bound (64 Ki
//!    characters by default) or a repeated field with more entries than its
//!    bound (1,000 by default) is `INVALID_ARGUMENT` naming the field path
//!    (`party.name`, `co_departments[3]`).
//!
//! Jurisdiction (which division's data) stays with the handlers: only they
//! know whose record it is. Handlers still validate their fields' meaning.
//!
//! The body is buffered (up to the limit) before the handler runs, so a
//! client-streaming method would be checked as a whole; the contract has none.
//! Health and reflection are mounted beside the gate, open.
//!
//! A service declares its table next to its API (`access.rs`) and hands its
//! gRPC server to [`crate::server::Services::add_authenticated`] as a
//! [`Gated`] value.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::Interceptor;
use tonic::Status;

use crate::auth::{Actor, AuthInterceptor};

/// Who may call a method.
#[derive(Debug, Clone, Copy)]
pub enum Roles {
    /// Any caller with a valid token, whatever its roles (`WhoAmI`).
    Authenticated,
    /// A caller holding at least one of these roles.
    AnyOf(&'static [&'static str]),
}

/// How large a method's request may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// [`Limits::standard_bytes`] (256 KiB unless set otherwise).
    Standard,
    /// [`Limits::upload_bytes`]: a stored object plus the rest of the
    /// message, set by the service with [`Gated::upload_limit`] (without it,
    /// the standard limit).
    Upload,
}

/// A tighter (or looser) bound for one field of a method's request than
/// [`Limits::max_items`] / [`Limits::max_chars`]: entries for a repeated
/// field, characters for a text field. `path` names the field without
/// indices: `co_departments`, `party.name`, `situations.text`.
#[derive(Debug, Clone, Copy)]
pub struct FieldBound {
    pub path: &'static str,
    pub max: usize,
}

/// One row of an access table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The gRPC path: `/yuetan.intake.v1.IntakeService/GetParty`.
    pub method: &'static str,
    pub roles: Roles,
    pub size: Size,
    pub bounds: &'static [FieldBound],
}

impl Rule {
    /// A method callable by a holder of one of `roles`, standard size.
    pub const fn new(method: &'static str, roles: &'static [&'static str]) -> Rule {
        Rule { method, roles: Roles::AnyOf(roles), size: Size::Standard, bounds: &[] }
    }

    /// A method any authenticated caller may call, standard size.
    pub const fn authenticated(method: &'static str) -> Rule {
        Rule { method, roles: Roles::Authenticated, size: Size::Standard, bounds: &[] }
    }

    /// The request may carry an uploaded object ([`Size::Upload`]).
    pub const fn upload(mut self) -> Rule {
        self.size = Size::Upload;
        self
    }

    /// Per-field bounds that replace the defaults for this method.
    pub const fn bounds(mut self, bounds: &'static [FieldBound]) -> Rule {
        self.bounds = bounds;
        self
    }

    /// The method's name without the service: `GetParty`.
    pub fn method_name(&self) -> &'static str {
        self.method.rsplit('/').next().unwrap_or(self.method)
    }

    /// Whether `actor` holds a role this rule admits.
    pub fn admits(&self, actor: &Actor) -> bool {
        match self.roles {
            Roles::Authenticated => true,
            Roles::AnyOf(roles) => roles.iter().any(|role| actor.has_role(role)),
        }
    }
}

/// A service's table: one [`Rule`] per method it serves. Static, so a
/// reviewer (and the authorisation-matrix test) reads it in one place.
pub type AccessTable = [Rule];

/// The rule of `method` (its gRPC path) in `table`; `None`: refused to all.
pub fn rule<'t>(table: &'t AccessTable, method: &str) -> Option<&'t Rule> {
    table.iter().find(|rule| rule.method == method)
}

/// Whether the gate lets `actor` call `method` under `table` (the role
/// check alone; the handler still checks jurisdiction).
pub fn admits(table: &AccessTable, method: &str, actor: &Actor) -> bool {
    rule(table, method).is_some_and(|rule| rule.admits(actor))
}

/// The table of the platform's own service (`WhoAmI`).
pub const PLATFORM_ACCESS: &AccessTable = &[
    Rule::authenticated("/yuetan.platform.v1.PlatformService/WhoAmI"),
    // Open dead letters per consumer (issue 16): for the operator.
    Rule::new("/yuetan.platform.v1.PlatformService/GetStatus", &[crate::auth::roles::ADMIN]),
];

/// The bounds the gate enforces when a rule names no tighter one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request of a [`Size::Standard`] method, in bytes.
    pub standard_bytes: usize,
    /// Largest request of a [`Size::Upload`] method, in bytes.
    pub upload_bytes: usize,
    /// Most entries of any repeated field.
    pub max_items: usize,
    /// Most characters of any text field.
    pub max_chars: usize,
    /// Deepest nesting of messages.
    pub max_depth: usize,
}

pub const DEFAULT_LIMITS: Limits = Limits {
    standard_bytes: 256 * 1024,
    upload_bytes: 256 * 1024,
    max_items: 1_000,
    max_chars: 64 * 1024,
    max_depth: 32,
};

impl Default for Limits {
    fn default() -> Self {
        DEFAULT_LIMITS
    }
}

/// A service's gRPC server together with its access table: what
/// [`crate::server::Services::add_authenticated`] mounts.
#[derive(Clone)]
pub struct Gated<S> {
    pub(crate) service: S,
    pub(crate) table: &'static AccessTable,
    pub(crate) limits: Limits,
}

impl<S> Gated<S> {
    pub fn new(service: S, table: &'static AccessTable) -> Self {
        Self { service, table, limits: DEFAULT_LIMITS }
    }

    /// The request limit of [`Size::Upload`] methods.
    pub fn upload_limit(mut self, bytes: usize) -> Self {
        self.limits.upload_bytes = bytes;
        self
    }

    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn table(&self) -> &'static AccessTable {
        self.table
    }
}

impl<S> fmt::Debug for Gated<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gated").field("methods", &self.table.len()).field("limits", &self.limits).finish_non_exhaustive()
    }
}

/// The contract's descriptors, decoded once.
pub fn descriptors() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    // The set is built into the binary by yuetan-proto's build script;
    // if it does not decode, nothing can be served.
    #[allow(clippy::expect_used)]
    POOL.get_or_init(|| DescriptorPool::decode(yuetan_proto::FILE_DESCRIPTOR_SET).expect("yuetan-proto's descriptor set decodes"))
}

/// What the gate knows of one method: its rule, byte limit and input type.
#[derive(Debug)]
struct Entry {
    rule: Rule,
    limit: usize,
    input: MessageDescriptor,
}

/// The compiled table of one service.
#[derive(Debug)]
struct Plan {
    entries: HashMap<&'static str, Entry>,
    limits: Limits,
}

/// Checks `table` against the contract for the service `service_name`
/// (e.g. `yuetan.intake.v1.IntakeService`): every rule names a method of
/// that service, once. A table that fails is a programming error; the
/// server refuses to start with the reason.
fn compile(service_name: &str, table: &'static AccessTable, limits: Limits) -> Result<Plan, String> {
    let service = descriptors()
        .get_service_by_name(service_name)
        .ok_or_else(|| format!("service {service_name} is not in the proto contract"))?;
    let mut entries = HashMap::new();
    for rule in table {
        let prefix = format!("/{service_name}/");
        let name = rule
            .method
            .strip_prefix(&prefix)
            .ok_or_else(|| format!("access table of {service_name}: {} is not a method of this service", rule.method))?;
        let method = service
            .methods()
            .find(|m| m.name() == name)
            .ok_or_else(|| format!("access table of {service_name}: no method {name} in the contract"))?;
        if let Roles::AnyOf(roles) = rule.roles {
            if roles.is_empty() {
                return Err(format!("access table of {service_name}: {name} admits no role"));
            }
        }
        let limit = match rule.size {
            Size::Standard => limits.standard_bytes,
            Size::Upload => limits.upload_bytes,
        };
        if entries.insert(rule.method, Entry { rule: *rule, limit, input: method.input() }).is_some() {
            return Err(format!("access table of {service_name}: {name} appears twice"));
        }
    }
    for method in service.methods() {
        let path = format!("/{service_name}/{}", method.name());
        if !entries.contains_key(path.as_str()) {
            tracing::warn!(method = %path, "method has no access rule: every call is refused");
        }
    }
    Ok(Plan { entries, limits })
}

/// The tower service the server mounts: the gate in front of `inner`.
#[derive(Clone)]
pub struct GateService<S> {
    inner: S,
    plan: Arc<Plan>,
    auth: AuthInterceptor,
}

impl<S: NamedService> GateService<S> {
    pub(crate) fn new(gated: Gated<S>, auth: AuthInterceptor) -> Result<Self, String> {
        let plan = compile(S::NAME, gated.table, gated.limits)?;
        Ok(Self { inner: gated.service, plan: Arc::new(plan), auth })
    }
}

impl<S> fmt::Debug for GateService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateService").field("methods", &self.plan.entries.len()).finish_non_exhaustive()
    }
}

impl<S: NamedService> NamedService for GateService<S> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

impl<S> tower::Service<http::Request<Body>> for GateService<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // The clone that was made ready is the one that serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let plan = self.plan.clone();
        let mut auth = self.auth.clone();
        Box::pin(async move {
            match admit(&plan, &mut auth, request).await {
                Ok(request) => inner.call(request).await,
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

/// Steps 1–4 of the module doc; the request to hand on, its body buffered.
async fn admit(plan: &Plan, auth: &mut AuthInterceptor, request: http::Request<Body>) -> Result<http::Request<Body>, Status> {
    let (mut parts, body) = request.into_parts();
    let check = tonic::Request::from_parts(tonic::metadata::MetadataMap::from_headers(parts.headers.clone()), Default::default(), ());
    let actor = auth
        .call(check)?
        .extensions_mut()
        .remove::<Actor>()
        .ok_or_else(|| Status::unauthenticated("no verified caller"))?;
    let path = parts.uri.path();
    let entry = plan.entries.get(path).ok_or_else(|| {
        tracing::info!(method = %path, officer = %actor.officer_id, "method not in the access table");
        Status::from(crate::Error::PermissionDenied(format!("{path} is not open to any role")))
    })?;
    if !entry.rule.admits(&actor) {
        // Only an AnyOf rule refuses anyone.
        let roles = match entry.rule.roles {
            Roles::AnyOf(roles) => roles,
            Roles::Authenticated => &[],
        };
        tracing::info!(method = %path, officer = %actor.officer_id, roles = ?actor.roles, "role refused");
        return Err(Status::from(crate::Error::PermissionDenied(format!(
            "{} needs one of the roles {}",
            entry.rule.method_name(),
            roles.join(", ")
        ))));
    }
    let bytes = read_limited(body, entry.limit, entry.rule.method_name()).await?;
    check_frames(&bytes, &entry.input, entry.rule.bounds, &plan.limits)?;
    parts.extensions.insert(actor);
    Ok(http::Request::from_parts(parts, Body::new(http_body_util::Full::new(bytes))))
}

/// Reads the request body, refusing it as soon as it is known to exceed
/// `limit` (a gRPC frame's length prefix says so before its bytes arrive).
async fn read_limited(mut body: Body, limit: usize, method: &str) -> Result<Bytes, Status> {
    let too_large = |size: usize| {
        Status::resource_exhausted(format!("the request is {size} bytes or more; {method} accepts at most {limit} bytes"))
    };
    let mut buffer = BytesMut::new();
    // What the frame prefixes seen so far announce: the messages' bytes plus
    // the prefixes after the first, so that a stream of empty messages uses
    // up the limit too. And where the next prefix starts.
    let mut announced = 0usize;
    let mut next_frame = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        let Ok(data) = frame.into_data() else { continue };
        // One HTTP/2 data frame (16 KiB unless the server allows more) is
        // taken in before the check; past it the buffer holds at most the
        // limit and two prefixes.
        buffer.extend_from_slice(&data);
        while buffer.len() >= next_frame.saturating_add(FRAME_HEADER) {
            let length = frame_length(&buffer[next_frame..]);
            announced = announced.saturating_add(length).saturating_add(if next_frame == 0 { 0 } else { FRAME_HEADER });
            if announced > limit {
                return Err(too_large(announced));
            }
            next_frame = next_frame.saturating_add(FRAME_HEADER).saturating_add(length);
        }
    }
    Ok(buffer.freeze())
}

/// A gRPC frame: a compression flag byte and a big-endian u32 length.
const FRAME_HEADER: usize = 5;

fn frame_length(header: &[u8]) -> usize {
    u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize
}

/// Walks every complete frame of the body. An incomplete frame is left to
/// tonic, which refuses it without running the handler.
fn check_frames(mut body: &[u8], input: &MessageDescriptor, bounds: &[FieldBound], limits: &Limits) -> Result<(), Status> {
    while body.len() >= FRAME_HEADER {
        let length = frame_length(body);
        let Some(message) = body.get(FRAME_HEADER..FRAME_HEADER + length) else { break };
        if body[0] != 0 {
            // No service accepts compressed requests; the gate cannot look
            // into one, so it says so rather than let it pass unchecked.
            return Err(Status::unimplemented("compressed requests are not accepted"));
        }
        check_message(message, input, bounds, limits).map_err(Status::from)?;
        body = &body[FRAME_HEADER + length..];
    }
    Ok(())
}

/// Checks one encoded message of type `input` (step 4 of the module doc).
pub fn check_message(message: &[u8], input: &MessageDescriptor, bounds: &[FieldBound], limits: &Limits) -> Result<(), crate::Error> {
    let mut walk = Walk { limits, bounds, path: Vec::new() };
    walk.message(input, message, 0).map_err(|reason| walk.refusal(reason))
}

/// One step of a field path: a field's name, with an index if repeated.
struct Step {
    name: String,
    index: Option<usize>,
}

struct Walk<'a> {
    limits: &'a Limits,
    bounds: &'a [FieldBound],
    path: Vec<Step>,
}

impl Walk<'_> {
    fn refusal(&self, reason: String) -> crate::Error {
        let mut field = String::new();
        for step in &self.path {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(&step.name);
            if let Some(index) = step.index {
                field.push_str(&format!("[{index}]"));
            }
        }
        if field.is_empty() {
            field.push_str("request");
        }
        crate::Error::invalid(field, reason)
    }

    /// The bound of the field `name` under the current path (indices left
    /// out), or `default`.
    fn bound(&self, name: &str, default: usize) -> usize {
        if self.bounds.is_empty() {
            return default;
        }
        self.bounds
            .iter()
            .find(|bound| {
                let mut names = bound.path.split('.');
                self.path.iter().all(|step| names.next() == Some(step.name.as_str()))
                    && names.next() == Some(name)
                    && names.next().is_none()
            })
            .map_or(default, |bound| bound.max)
    }

    /// Names the field of `seen` (entry `index` of a list) at the end of
    /// the path, for a refusal or to descend into it.
    fn push(&mut self, seen: &Seen, index: Option<usize>) {
        let name = seen.field.as_ref().map_or("?", |field| field.descriptor.name());
        self.path.push(Step { name: name.to_string(), index });
    }

    fn message(&mut self, descriptor: &MessageDescriptor, mut buf: &[u8], depth: usize) -> Result<(), String> {
        if depth > self.limits.max_depth {
            return Err(format!("is nested deeper than {} messages", self.limits.max_depth));
        }
        // The fields met so far in this message, looked up once each, with
        // the entries seen of the repeated ones.
        let mut seen: Vec<Seen> = Vec::new();
        while !buf.is_empty() {
            let key = varint(&mut buf)?;
            let number = u32::try_from(key >> 3).map_err(|_| "is not a valid message".to_string())?;
            let wire = (key & 7) as u8;
            let data = match wire {
                0 => {
                    varint(&mut buf)?;
                    None
                }
                1 => {
                    buf = skip(buf, 8)?;
                    None
                }
                5 => {
                    buf = skip(buf, 4)?;
                    None
                }
                2 => {
                    let length = usize::try_from(varint(&mut buf)?).map_err(|_| "is not a valid message".to_string())?;
                    let data = buf.get(..length).ok_or_else(|| "is not a valid message".to_string())?;
                    buf = &buf[length..];
                    Some(data)
                }
                _ => return Err("is not a valid message (groups or an unknown wire type)".to_string()),
            };
            let slot = match seen.iter().position(|s| s.number == number) {
                Some(slot) => slot,
                None => {
                    let mut new = Seen::new(descriptor, number);
                    if let Some(field) = &mut new.field {
                        field.max_items = self.bound(field.descriptor.name(), self.limits.max_items);
                        field.max_chars = self.bound(field.descriptor.name(), self.limits.max_chars);
                    }
                    seen.push(new);
                    seen.len() - 1
                }
            };
            let Some(field) = &seen[slot].field else { continue };
            let (kind, repeated) = (field.kind.clone(), field.repeated);
            let Some(data) = data else {
                // An unpacked scalar entry of a list.
                if repeated {
                    self.count_items(&mut seen[slot], 1)?;
                }
                continue;
            };
            let index = if repeated {
                let items = match kind {
                    Kind::String | Kind::Bytes | Kind::Message(_) => 1,
                    Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => data.len() / 8,
                    Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => data.len() / 4,
                    // Varints: one entry per byte without the continuation bit.
                    _ => data.iter().filter(|b| **b < 0x80).count(),
                };
                Some(self.count_items(&mut seen[slot], items)?.saturating_sub(1))
            } else {
                None
            };
            // The path grows only to descend into a message or to name a refusal.
            match kind {
                Kind::String => {
                    let max = seen[slot].field.as_ref().map_or(self.limits.max_chars, |f| f.max_chars);
                    if let Err(reason) = check_text(data, max) {
                        self.push(&seen[slot], index);
                        return Err(reason);
                    }
                }
                Kind::Message(inner) => {
                    self.push(&seen[slot], index);
                    // On a refusal the path stays, to name the field.
                    self.message(&inner, data, depth + 1)?;
                    self.path.pop();
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Adds `items` entries to a list; refuses it (naming the field, not an
    /// entry) past its bound. Returns the entries so far.
    fn count_items(&mut self, seen: &mut Seen, items: usize) -> Result<usize, String> {
        seen.items = seen.items.saturating_add(items);
        let max = seen.field.as_ref().map_or(usize::MAX, |field| field.max_items);
        if seen.items > max {
            self.push(seen, None);
            return Err(format!("has more than {max} entries"));
        }
        Ok(seen.items)
    }
}

/// A field number met in a message: its descriptor (`None`: unknown to the
/// contract, skipped) and the entries seen if it is a list.
struct Seen {
    number: u32,
    field: Option<Field>,
    items: usize,
}

struct Field {
    descriptor: FieldDescriptor,
    kind: Kind,
    repeated: bool,
    max_items: usize,
    max_chars: usize,
}

impl Seen {
    fn new(message: &MessageDescriptor, number: u32) -> Seen {
        let field = message.get_field(number).map(|descriptor| Field {
            kind: descriptor.kind(),
            repeated: descriptor.is_list() || descriptor.is_map(),
            descriptor,
            max_items: 0,
            max_chars: 0,
        });
        Seen { number, field, items: 0 }
    }
}

/// A text field's bytes: valid UTF-8, no U+0000, at most `max` characters.
fn check_text(data: &[u8], max: usize) -> Result<(), String> {
    let text = std::str::from_utf8(data).map_err(|_| "is not valid UTF-8".to_string())?;
    if text.contains('\0') {
        return Err("contains the character U+0000".to_string());
    }
    // Cheap first: a text of at most `max` bytes has at most `max` characters.
    if text.len() > max && text.chars().count() > max {
        return Err(format!("is longer than {max} characters"));
    }
    Ok(())
}

fn varint(buf: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in 0..10 {
        let (&byte, rest) = buf.split_first().ok_or_else(|| "is not a valid message".to_string())?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << (shift * 7);
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err("is not a valid message (varint too long)".to_string())
}

fn skip(buf: &[u8], n: usize) -> Result<&[u8], String> {
    buf.get(n..).ok_or_else(|| "is not a valid message".to_string())
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use yuetan_proto::intake as pb;

    use super::*;

    fn input(name: &str) -> MessageDescriptor {
        descriptors().get_message_by_name(name).unwrap()
    }

    fn check(message: &impl Message, name: &str) -> Result<(), String> {
        check_message(&message.encode_to_vec(), &input(name), &[], &DEFAULT_LIMITS).map_err(|err| err.to_string())
    }

    #[test]
    fn a_nul_in_nested_text_is_refused_naming_the_path() {
        let request = pb::RegisterPartyRequest {
            party: Some(pb::PartyInput { name: "测试\u{0}公司".into(), ..Default::default() }),
            ..Default::default()
        };
        let err = check(&request, "yuetan.intake.v1.RegisterPartyRequest").unwrap_err();
        assert!(err.contains("party.name") && err.contains("U+0000"), "{err}");
    }

    #[test]
    fn a_nul_in_a_list_entry_names_its_index() {
        let request = pb::VerifyClueRequest {
            co_departments: vec!["a".into(), "b".into(), "c".into(), "d\u{0}".into()],
            ..Default::default()
        };
        let err = check(&request, "yuetan.intake.v1.VerifyClueRequest").unwrap_err();
        assert!(err.contains("co_departments[3]"), "{err}");
    }

    #[test]
    fn lists_and_texts_are_bounded_and_overrides_apply() {
        let request = pb::VerifyClueRequest { co_departments: vec![String::new(); 1_001], ..Default::default() };
        let err = check(&request, "yuetan.intake.v1.VerifyClueRequest").unwrap_err();
        assert!(err.contains("co_departments") && err.contains("1000 entries"), "{err}");
        let request = pb::VerifyClueRequest { co_departments: vec![String::new(); 1_000], ..Default::default() };
        check(&request, "yuetan.intake.v1.VerifyClueRequest").unwrap();

        let request = pb::VerifyClueRequest { co_departments: vec!["x".into(); 11], ..Default::default() };
        let bounds = [FieldBound { path: "co_departments", max: 10 }];
        let err = check_message(&request.encode_to_vec(), &input("yuetan.intake.v1.VerifyClueRequest"), &bounds, &DEFAULT_LIMITS)
            .unwrap_err()
            .to_string();
        assert!(err.contains("co_departments") && err.contains("10 entries"), "{err}");

        let long = "长".repeat(64 * 1024 + 1);
        let request = pb::RegisterPartyRequest { party: Some(pb::PartyInput { name: long, ..Default::default() }), ..Default::default() };
        let err = check(&request, "yuetan.intake.v1.RegisterPartyRequest").unwrap_err();
        assert!(err.contains("party.name") && err.contains("characters"), "{err}");
        let bounds = [FieldBound { path: "party.name", max: 5 }];
        let request = pb::RegisterPartyRequest { party: Some(pb::PartyInput { name: "六个字的名字".into(), ..Default::default() }), ..Default::default() };
        let err = check_message(&request.encode_to_vec(), &input("yuetan.intake.v1.RegisterPartyRequest"), &bounds, &DEFAULT_LIMITS)
            .unwrap_err()
            .to_string();
        assert!(err.contains("party.name"), "{err}");
    }

    #[test]
    fn packed_scalar_lists_are_counted_by_entries() {
        let consent = pb::ServiceConsent { channels: vec![1; 1_001], ..Default::default() };
        let err = check(&consent, "yuetan.intake.v1.ServiceConsent").unwrap_err();
        assert!(err.contains("channels"), "{err}");
        let consent = pb::ServiceConsent { channels: vec![1, 2, 3], ..Default::default() };
        check(&consent, "yuetan.intake.v1.ServiceConsent").unwrap();
    }

    #[test]
    fn invalid_utf8_and_truncated_messages_are_refused() {
        // Field 1 (file_name), length 2, bytes FF FF.
        let err = check_message(&[0x0a, 0x02, 0xff, 0xff], &input("yuetan.intake.v1.UploadEvidenceRequest"), &[], &DEFAULT_LIMITS).unwrap_err();
        assert!(err.to_string().contains("file_name") && err.to_string().contains("UTF-8"), "{err}");
        let err = check_message(&[0x0a, 0x05, b'a'], &input("yuetan.intake.v1.UploadEvidenceRequest"), &[], &DEFAULT_LIMITS).unwrap_err();
        assert!(err.to_string().contains("not a valid message"), "{err}");
    }

    fn body(bytes: Vec<u8>) -> Body {
        Body::new(http_body_util::Full::new(Bytes::from(bytes)))
    }

    fn framed(message: &[u8]) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
        out.extend_from_slice(message);
        out
    }

    #[tokio::test]
    async fn the_byte_limit_counts_the_message_and_every_further_prefix() {
        let exact = framed(&[b'x'; 1024]);
        assert_eq!(read_limited(body(exact.clone()), 1024, "M").await.unwrap().len(), exact.len());
        let over = framed(&[b'x'; 1025]);
        assert_eq!(read_limited(body(over), 1024, "M").await.unwrap_err().code(), tonic::Code::ResourceExhausted);
        // 100,000 empty messages announce nothing but their prefixes.
        let empties: Vec<u8> = (0..100_000).flat_map(|_| framed(&[])).collect();
        let err = read_limited(body(empties), 1024, "M").await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
        // A prefix announcing 4 GiB is refused without its bytes.
        let err = read_limited(body(vec![0, 0xff, 0xff, 0xff, 0xff]), 1024, "M").await.unwrap_err();
        assert!(err.message().contains("4294967295"), "{}", err.message());
    }

    #[test]
    fn an_ordinary_request_passes() {
        let request = pb::UploadEvidenceRequest { file_name: "现场照片.jpg".into(), media_type: "image/jpeg".into(), content: vec![0; 10_000] };
        check(&request, "yuetan.intake.v1.UploadEvidenceRequest").unwrap();
    }
}
