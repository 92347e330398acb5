//! The drill forms: starting and stopping a drill (admin) and adding a timeline note (officer)
//! from the pages, with the session cookie and form token, answering with a redirect back or
//! the page again with what went wrong and the values as typed.

use super::*;

/// A refused drill form: the refusal page, back to the drill list.
pub(super) fn refused(ctx: &PageCtx, e: FormAuthError) -> warp::reply::Response {
    form::refused(
        ctx,
        e,
        ctx.lang.d().login_to_control,
        "/drills",
        Nav::Drills,
    )
}

/// The report page again, with what went wrong (and the note form as typed).
pub(super) async fn report_again(
    state: &AppState,
    ctx: &PageCtx,
    id: i64,
    retry: Option<&Retry<'_>>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<warp::reply::Response, warp::Rejection> {
    let r = view::drills::report(state, id).await?;
    let mut resp = ctx.finish(render_report(ctx, &r, crate::time::now_ms(), retry, error));
    *resp.status_mut() = status;
    Ok(resp)
}

pub(super) fn drill_status(e: &DrillError) -> StatusCode {
    match e {
        DrillError::Invalid(_) | DrillError::EmptyScope => StatusCode::BAD_REQUEST,
        DrillError::Overlap(_) | DrillError::Ended(_) => StatusCode::CONFLICT,
        DrillError::NotFound(_) => StatusCode::NOT_FOUND,
        DrillError::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
        DrillError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Values of a comma- or line-separated field, trimmed, empty ones dropped.
pub(super) fn list_field(f: &Query, key: &str) -> Vec<String> {
    f.get(key)
        .map(|v| {
            v.split([',', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn text_field(f: &Query, key: &str) -> Option<String> {
    f.get(key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The start form as the API's request.
pub(super) fn start_request(f: &Query) -> StartRequest {
    let mut scope = BTreeMap::new();
    for k in ["province", "commune", "operator", "service"] {
        let v = list_field(f, k);
        if !v.is_empty() {
            scope.insert(k.to_string(), OneOrMany::Many(v));
        }
    }
    StartRequest {
        name: f.get("name").cloned().unwrap_or_default(),
        scenario: f.get("scenario").cloned().unwrap_or_default(),
        scope,
        leaders: list_field(f, "leaders"),
        interval: text_field(f, "interval"),
        duration: text_field(f, "duration"),
        baseline: text_field(f, "baseline"),
    }
}

/// A local (Asia/Ho_Chi_Minh) time as typed in a form: `YYYY-MM-DDTHH:MM[:SS]` (what a
/// `datetime-local` field sends, a space also works) or `HH:MM[:SS]` for today.
pub fn parse_local(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let naive = [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        let time = ["%H:%M", "%H:%M:%S"]
            .iter()
            .find_map(|f| NaiveTime::parse_from_str(s, f).ok())?;
        Some(now.with_timezone(&Ho_Chi_Minh).date_naive().and_time(time))
    })?;
    Ho_Chi_Minh
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// The note form as the API's request.
pub(super) fn note_request(f: &Query, now: DateTime<Utc>) -> Result<NoteRequest, RequestError> {
    let time = |key: &'static str| -> Result<Option<DateTime<Utc>>, RequestError> {
        match text_field(f, key) {
            None => Ok(None),
            Some(v) => parse_local(&v, now).map(Some).ok_or(RequestError::Time {
                field: key,
                value: v,
            }),
        }
    };
    let targets = list_field(f, "expected");
    let until = time("until")?;
    if until.is_some() && targets.is_empty() {
        return Err(RequestError::UntilWithoutTargets);
    }
    Ok(NoteRequest {
        text: f.get("text").cloned().unwrap_or_default(),
        at: time("at")?,
        expected_down: (!targets.is_empty()).then_some(ExpectedDown { targets, until }),
    })
}

/// `POST /drills`: start a drill (admin).
pub(super) async fn start_submit(
    ctx: PageCtx,
    form: Query,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let caller = match form::caller(&ctx, &form, Role::Admin) {
        Ok(c) => c,
        Err(e) => return Ok(refused(&ctx, e)),
    };
    let outcome = match new_drill(start_request(&form), &state.config().drill_defaults) {
        Ok(new) => service::start(&state, new, &caller.name, crate::time::now_ms())
            .await
            .map_err(|e| (drill_status(&e), ctx.lang.drill_error(&e))),
        Err(e) => Err((StatusCode::BAD_REQUEST, ctx.lang.request_error(&e))),
    };
    match outcome {
        Ok(d) => Ok(form::see_other(&format!("/drills/{}", d.id))),
        Err((status, error)) => {
            let list = list_drills(&state).await?;
            let retry = Retry {
                values: &form,
                error,
            };
            let mut r = ctx.finish(render_list(
                &ctx,
                &list,
                crate::time::now_ms(),
                Some(&retry),
            ));
            *r.status_mut() = status;
            Ok(r)
        }
    }
}

/// `POST /drills/{id}/stop` (admin).
pub(super) async fn stop_submit(
    id: i64,
    ctx: PageCtx,
    form: Query,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let caller = match form::caller(&ctx, &form, Role::Admin) {
        Ok(c) => c,
        Err(e) => return Ok(refused(&ctx, e)),
    };
    match service::stop(
        &state,
        id,
        Some(&caller.name),
        "stopped",
        crate::time::now_ms(),
    )
    .await
    {
        Ok(_) => Ok(form::see_other(&format!("/drills/{id}"))),
        Err(DrillError::NotFound(_)) => Err(not_found(&id.to_string())),
        Err(e) => {
            report_again(
                &state,
                &ctx,
                id,
                None,
                Some(&ctx.lang.drill_error(&e)),
                drill_status(&e),
            )
            .await
        }
    }
}

/// `POST /drills/{id}/notes` (officer).
pub(super) async fn note_submit(
    id: i64,
    ctx: PageCtx,
    form: Query,
    state: AppState,
) -> Result<warp::reply::Response, warp::Rejection> {
    let caller = match form::caller(&ctx, &form, Role::Officer) {
        Ok(c) => c,
        Err(e) => return Ok(refused(&ctx, e)),
    };
    let outcome = match note_request(&form, crate::time::now_ms()) {
        Ok(req) => service::add_note(&state, id, new_note(req, &caller.name))
            .await
            .map_err(|e| (drill_status(&e), ctx.lang.drill_error(&e))),
        Err(e) => Err((StatusCode::BAD_REQUEST, ctx.lang.request_error(&e))),
    };
    match outcome {
        Ok(_) => Ok(form::see_other(&format!("/drills/{id}#notes"))),
        Err((StatusCode::NOT_FOUND, _)) => Err(not_found(&id.to_string())),
        Err((status, error)) => {
            let retry = Retry {
                values: &form,
                error,
            };
            report_again(&state, &ctx, id, Some(&retry), None, status).await
        }
    }
}
