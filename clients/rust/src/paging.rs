//! Lists as streams: pages fetched one after another, each item yielded,
//! until a page is empty or has no next cursor.

use std::future::Future;

use futures_util::stream::{self, Stream, TryStreamExt};

use crate::Result;

/// Every item of every page: `fetch(cursor)` gives a page's items and the
/// cursor of the next one (`None` first).
pub(crate) fn pages<T, C, F, Fut>(fetch: F) -> impl Stream<Item = Result<T>>
where
    C: Clone,
    F: Fn(Option<C>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<C>)>>,
{
    // State: the cursor to ask with, or `None` once the last page is in.
    stream::try_unfold((Some(None), fetch), |(cursor, fetch)| async move {
        let Some(cursor) = cursor else { return Ok::<_, crate::Error>(None) };
        let (items, next) = fetch(cursor).await?;
        let more = if items.is_empty() { None } else { next.map(Some) };
        Ok(Some((items, (more, fetch))))
    })
    .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
    .try_flatten()
}
