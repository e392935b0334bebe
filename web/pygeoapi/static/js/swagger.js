// Swagger UI for this service's OpenAPI document (pygeoapi 0.24 started it inline).
// The document's address is the data-url of #swagger-ui; no validator badge (it
// would load an image from validator.swagger.io) and no top bar to open other URLs.
'use strict';

document.addEventListener('DOMContentLoaded', function () {
  var root = document.getElementById('swagger-ui');
  window.ui = SwaggerUIBundle({
    url: root.dataset.url,
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
  });
});
