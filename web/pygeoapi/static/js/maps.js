// The Leaflet maps of pygeoapi's HTML pages in KMZB (collection, items, item, tiles),
// which pygeoapi 0.24 drew with inline scripts. Each map is a <div data-map="kind">:
// its basemap is the service's own WMS (data-wms-url, data-wms-layers: server.map in
// pygeoapi-config.yml), its data come from data-* attributes and JSON blocks.
'use strict';

(function () {
  var POLAND = [52.0, 19.2];

  function readJson(id) {
    var block = document.getElementById(id);
    return block ? JSON.parse(block.textContent) : null;
  }

  // A map over the WMS basemap, in the given CRS (Web Mercator unless told), showing
  // the given bounds (Poland when they are not valid). The view is set before the
  // basemap is added, so no tile is asked for a view the page then leaves.
  function baseMap(element, bounds, maxZoom, crs) {
    var map = L.map(element, crs ? { crs: crs } : {});
    if (bounds && bounds.isValid()) map.fitBounds(bounds, { maxZoom: maxZoom });
    else map.setView(POLAND, 5);
    var d = element.dataset;
    if (d.wmsUrl) {
      L.tileLayer
        .wms(d.wmsUrl, {
          layers: d.wmsLayers,
          format: 'image/png',
          transparent: true,
          version: '1.3.0',
          maxZoom: 18,
          attribution: d.attribution,
        })
        .addTo(map);
    }
    return map;
  }

  // A dateline safe bbox: minx, miny, maxx, maxy
  function safeBbox(bbox) {
    var safe = bbox.slice();
    if (safe[2] < safe[0]) safe[2] += 360;
    return safe;
  }

  function link(href, text) {
    var span = document.createElement('span');
    var a = document.createElement('a');
    a.href = href;
    a.textContent = text;
    span.appendChild(a);
    return span;
  }

  // The collection's extent, and a bbox query parameter for a rectangle drawn
  // by dragging the mouse while pressing the Ctrl key.
  function collectionMap(element) {
    var bbox = safeBbox(JSON.parse(element.dataset.bbox));
    var clamp = function (lat) {
      return Math.max(-85.0511, Math.min(lat, 85.0511));
    };
    var extent = L.polygon([
      [clamp(bbox[1]), bbox[0]],
      [clamp(bbox[3]), bbox[0]],
      [clamp(bbox[3]), bbox[2]],
      [clamp(bbox[1]), bbox[2]],
    ]);
    var map = baseMap(element, extent.getBounds(), 10);
    map.addLayer(extent);

    var firstCorner;
    var drawing = false;
    var current;
    var box;
    map.on('mousedown', function (e) {
      if (e.originalEvent.ctrlKey) {
        if (box) map.removeLayer(box);
        map.dragging.disable();
        firstCorner = e.latlng;
        drawing = true;
      } else if (box && map.hasLayer(box) && !box.getBounds().contains(e.latlng)) {
        map.removeLayer(box);
      }
    });
    map.on('mousemove', function (e) {
      if (!drawing) return;
      if (current) map.removeLayer(current);
      current = L.rectangle([firstCorner, e.latlng], { dashArray: '4 1', weight: 0.4 }).addTo(map);
    });
    map.on('mouseup', function (e) {
      if (current) map.removeLayer(current);
      if (drawing && e.originalEvent.ctrlKey) {
        box = L.rectangle([firstCorner, e.latlng], { color: '#ff7800', weight: 1 }).addTo(map);
      }
      drawing = false;
      map.dragging.enable();
    });
    map.on('click', function () {
      if (box && map.hasLayer(box)) {
        L.popup({ maxWidth: 'auto' })
          .setLatLng(box.getBounds().getCenter())
          .setContent(document.createTextNode('bbox=' + box.getBounds().toBBoxString()))
          .addTo(map);
      }
    });
  }

  // A page of features, clustered, each linking to its own page.
  function itemsMap(element) {
    var features = readJson('items-data') || [];
    var itemsPath = element.dataset.itemsPath;
    var titleField = element.dataset.titleField;
    var items = L.geoJSON(features, {
      onEachFeature: function (feature, layer) {
        var title = titleField && feature.properties ? feature.properties[titleField] : null;
        var text = String(title != null ? title : feature.id);
        layer.bindPopup(link(itemsPath + '/' + encodeURIComponent(feature.id) + '?f=html', text));
      },
    });
    var markers = L.markerClusterGroup({
      disableClusteringAtZoom: 9,
      chunkedLoading: true,
      chunkInterval: 500,
    });
    var map = baseMap(element, items.getBounds(), 18);
    markers.addLayer(items);
    map.addLayer(markers);
  }

  // One feature.
  function itemMap(element) {
    var feature = readJson('item-data');
    var item = L.geoJSON(feature && feature.geometry ? feature : []);
    var map = baseMap(element, item.getBounds(), 15);
    map.addLayer(item);
  }

  // VectorGrid 1.3.0 calls L.DomEvent.fakeStop, which Leaflet 1.8 removed: marking
  // the event stopped is what it did, and what keeps the map's own click away.
  function patchVectorGrid() {
    if (L.DomEvent.fakeStop) return;
    L.DomEvent.fakeStop = function (e) {
      e._stopped = true;
    };
  }

  // A collection's tiles in the chosen tile matrix set, over the WMS basemap in the
  // same CRS (WebMercatorQuad: EPSG:3857; WorldCRS84Quad: EPSG:4326).
  function tilesMap(element) {
    var select = document.getElementById('tilingScheme');
    var metadata = document.getElementById('metadata_link');
    var params = new URL(document.location.href).searchParams;
    var scheme = params.get('scheme') || select.value;
    if (scheme) {
      select.value = scheme;
      metadata.href = metadata.dataset.href.replace('{scheme}', encodeURIComponent(scheme));
    }
    select.addEventListener('change', function (event) {
      var url = new URL(document.location.href);
      url.searchParams.set('scheme', event.target.value);
      document.location.assign(url.toString());
    });

    var d = element.dataset;
    var maxZoom = Number(d.maxzoom);
    var b = JSON.parse(d.bounds);
    var bounds = L.latLngBounds([b[1], b[0]], [b[3], b[2]]);
    var crs = scheme === 'WorldCRS84Quad' ? L.CRS.EPSG4326 : null;
    var map = baseMap(element, bounds, maxZoom, crs);
    var url = d.tilesUrl
      .replace('{dataset}', d.dataset)
      .replace('{tileMatrixSetId}', scheme)
      .replace('{tileMatrix}', '{z}')
      .replace('{tileRow}', '{y}')
      .replace('{tileCol}', '{x}');
    if (d.tileType === 'raster') {
      map.addLayer(L.tileLayer(url, { maxZoom: maxZoom }));
    } else if (d.tileType === 'vector') {
      patchVectorGrid();
      var featureId = function (feature) {
        return feature.properties.id || feature.properties.fid || feature.properties.uri;
      };
      var highlight = null;
      var layer = L.vectorGrid.protobuf(url, {
        interactive: true,
        rendererFactory: L.canvas.tile,
        maxZoom: maxZoom,
        indexMaxZoom: 5,
        getFeatureId: featureId,
      });
      var clearHighlight = function () {
        if (highlight) layer.resetFeatureStyle(highlight);
        highlight = null;
      };
      layer.on('click', function (e) {
        clearHighlight();
        highlight = featureId(e.layer);
        layer.setFeatureStyle(highlight, {
          weight: 2,
          color: 'red',
          opacity: 1,
          fillColor: 'red',
          fill: false,
          radius: 6,
          fillOpacity: 1,
        });
        L.DomEvent.stop(e);
      });
      layer.addTo(map);
      map.on('click', clearHighlight);
    }
  }

  var KINDS = { collection: collectionMap, items: itemsMap, item: itemMap, tiles: tilesMap };

  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('[data-map]').forEach(function (element) {
      var draw = KINDS[element.dataset.map];
      if (draw) draw(element);
    });
  });
})();
