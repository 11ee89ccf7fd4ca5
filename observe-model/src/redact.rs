//! Text that is safe to print: a URL without the password it may carry.

use std::borrow::Cow;

/// `url` with its userinfo (`user:password@`) replaced by `***@`, for start-up lines, `Debug`
/// and error messages. Text that is not a URL comes back unchanged.
///
/// ```
/// use observe_model::redact;
/// assert_eq!(redact::url("https://pk:sk@cloud.example/api"), "https://***@cloud.example/api");
/// assert_eq!(redact::url("not a url"), "not a url");
/// ```
pub fn url(url: &str) -> Cow<'_, str> {
    let Some(scheme_end) = url.find("://") else {
        return Cow::Borrowed(url);
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    match url[authority_start..authority_end].rfind('@') {
        Some(at) => Cow::Owned(format!(
            "{}***{}",
            &url[..authority_start],
            &url[authority_start + at..]
        )),
        None => Cow::Borrowed(url),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn userinfo_is_replaced_and_the_rest_kept() {
        assert_eq!(
            super::url("http://user:pw@host:3000/a?b@c"),
            "http://***@host:3000/a?b@c"
        );
        assert_eq!(super::url("https://p%40ss@h/"), "https://***@h/");
        assert_eq!(super::url("http://host/path@x"), "http://host/path@x");
        assert_eq!(super::url("not a url"), "not a url");
    }
}
