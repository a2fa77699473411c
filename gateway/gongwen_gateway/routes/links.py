"""The short link an SMS carries (SMS in China is one-way: the text links to the document, never
"reply to confirm"). A phone's browser follows it without a token, so the route is public: it asks
notify which document the code names and redirects (303) there — the API's document resource, or
``LINK_REDIRECT_BASE_URL`` + the document id where a web client serves documents. The link grants
nothing: seeing the document still takes a signed-in user who may see it.

A code is 12 characters of a 32-symbol alphabet, drawn with ``secrets`` (60 bits; older 8-character
codes: 40 bits): guessing one of a million live links takes ~10^12 tries. Unknown, malformed and
expired codes get the same 404 ``NOT_FOUND`` ("no such link"), so nothing tells them apart."""
import re
from urllib.parse import quote

from werkzeug.wrappers import Response

from gongwen_common.errors import NotFound

from ..http import api

DOCUMENT_RESOURCE = "/api/v1/documents/"
LINK_CODE = {"link_code": {"maxLength": 16}}  # beyond the path text of every route
_CODE = re.compile(r"^[A-Z0-9]{1,16}\Z")  # a code's alphabet, and the widest code notify ever made


class LinkRoutes:
    @api("GET", "/l/<link_code>", summary="Follow an SMS's short link: 303 to the document it names "
         "(Location); unknown or expired: 404", tag="notifications", public=True, status=303, path=LINK_CODE,
         errors=(404, 503))
    def follow_link(self, request, link_code):
        if not _CODE.match(link_code):
            raise NotFound(message="no such link")  # as an unknown code: nothing to tell apart
        document_id = self.call("notify", "resolve_link", link_code)["document_id"]
        base = self.config.get("LINK_REDIRECT_BASE_URL") or DOCUMENT_RESOURCE
        # no-store: a later visit asks again (an expired link is 404 then); no-referrer: the code stays here
        return Response(status=303, headers={"Location": base + quote(document_id, safe=""),
                                             "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
