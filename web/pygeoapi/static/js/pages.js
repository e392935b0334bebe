// pygeoapi's HTML pages in KMZB: what their templates ran inline, now from this
// origin so the Content-Security-Policy needs no inline script. Data comes from
// the page: data-* attributes and <script type="application/json"> blocks.
'use strict';

(function () {
  // The limit selector of the items and jobs pages: reload with the new limit,
  // from the first page, keeping the other query parameters.
  function setUpLimits() {
    var select = document.getElementById('limits');
    if (!select) return;
    var limit = new URL(document.location.href).searchParams.get('limit');
    if (limit && !Array.prototype.some.call(select.options, function (o) { return o.value === limit; })) {
      select.add(new Option(limit, limit)); // the limit in the address, not one of the choices
    }
    select.value = limit || select.options[0].value;
    select.addEventListener('change', function (event) {
      var url = new URL(document.location.href);
      url.searchParams.set('limit', event.target.value);
      url.searchParams.delete('offset');
      document.location.assign(url.toString());
    });
  }

  // <pre data-json-from="id">: the JSON block's value, pretty-printed as text.
  function showJson() {
    document.querySelectorAll('[data-json-from]').forEach(function (target) {
      var block = document.getElementById(target.dataset.jsonFrom);
      if (!block) return;
      var value = JSON.parse(block.textContent);
      if (typeof value === 'string') {
        try {
          value = JSON.parse(value);
        } catch (error) {
          // a plain string: shown as it is
        }
      }
      target.textContent = JSON.stringify(value, undefined, 2);
    });
  }

  // The page's JSON-LD, embedded for search engines as pygeoapi's pages do.
  function embedJsonLd() {
    var link = document.getElementById('jsonld-link');
    if (!link) return;
    fetch(link.href, { headers: { Accept: 'application/ld+json' } })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (text) {
        if (!text) return;
        var block = document.createElement('script');
        block.type = 'application/ld+json';
        // search engines do not expect pygeoapi's full context path
        block.textContent = text.replace('docs/jsonldcontext.jsonld', '');
        document.head.appendChild(block);
      })
      .catch(function () {
        // the page works without it
      });
  }

  document.addEventListener('DOMContentLoaded', function () {
    setUpLimits();
    showJson();
    embedJsonLd();
  });
})();
