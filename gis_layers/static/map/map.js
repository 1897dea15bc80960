/* The back office's web map (一张图): the project's own vector tiles, OGC items and REST lists,
   read with the signed-in session. No CDN, no base map unless MAP_BASE_TILES_URL is set.
   `window.fieldMap` is the page's handle for tests and the console. */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("map-config").textContent);

  const STRINGS = {
    zh: {
      title: "一张图", search: "搜索", search_placeholder: "项目代码或案件编号", logout: "退出",
      layers: "图层", filters: "筛选", legend: "图例", case: "案件", record_type: "记录类型",
      status: "状态", date_from: "起始日期", date_to: "截止日期", all: "全部", reset: "清除筛选",
      timeline: "案件时间线", open_timeline: "查看案件时间线", cases: "案件（按期限预警）",
      not_found: "未找到", found_cases: "找到案件：", other_language: "English",
      within_site: "在红线内", outside_site: "在红线外", overdue: "已逾期", open_item: "未逾期",
      no_case: "无案件", thumbnail: "缩略图", loading: "加载中…", error: "读取失败",
      warn_ok: "正常", warn_warn7: "7日预警", warn_remind5: "5日提醒", warn_supervise3: "3日督办", warn_overdue: "已超期",
      layer_sites: "红线地块", layer_surveys: "联合踏勘", layer_findings: "问题清单",
      layer_utility_points: "接入点", layer_inspections: "联合验收", layer_photos: "照片",
    },
    en: {
      title: "Web map", search: "Search", search_placeholder: "Project code or case number", logout: "Log out",
      layers: "Layers", filters: "Filters", legend: "Legend", case: "Case", record_type: "Record type",
      status: "Status", date_from: "From", date_to: "To", all: "All", reset: "Clear filters",
      timeline: "Case timeline", open_timeline: "Open the case timeline", cases: "Cases (deadline warning)",
      not_found: "Not found", found_cases: "Cases found: ", other_language: "中文",
      within_site: "Inside the red line", outside_site: "Outside the red line", overdue: "Overdue", open_item: "Not overdue",
      no_case: "No case", thumbnail: "Thumbnail", loading: "Loading…", error: "Could not read",
      warn_ok: "On time", warn_warn7: "7-day warning", warn_remind5: "5-day reminder", warn_supervise3: "3-day supervision", warn_overdue: "Over time",
      layer_sites: "Sites", layer_surveys: "Surveys", layer_findings: "Findings",
      layer_utility_points: "Utility points", layer_inspections: "Inspections", layer_photos: "Photos",
    },
  };
  const PALETTE = ["#1f77b4", "#2ca02c", "#ff7f0e", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"];
  const WARNING_LEVELS = ["ok", "warn7", "remind5", "supervise3", "overdue"];
  const WARNING_COLORS = { ok: "#2ca02c", warn7: "#f1c40f", remind5: "#ff7f0e", supervise3: "#d62728", overdue: "#7b0000" };
  const NO_CASE_COLOR = "#999999";

  let language = localStorage.getItem("fieldMap.language") || "zh";
  const t = (key) => STRINGS[language][key] ?? key;
  const layerTitle = (name) => t("layer_" + name);
  const absolute = (path) => new URL(path, window.location.href).href;
  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent(values[key]));

  async function getJson(path) {
    const response = await fetch(absolute(path), { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`${path}: ${response.status}`);
    return response.json();
  }

  // --- state -----------------------------------------------------------------------------
  const state = { cases: [], caseWarnings: {}, filter: { caseIds: [], layer: "", status: "", from: "", to: "" }, visible: {} };
  config.layers.forEach((layer) => { state.visible[layer.name] = true; });
  state.visible.cases = true;

  function worstWarning(deadline) {
    if (!deadline) return "ok";
    if (deadline.is_over_standard) return "overdue";
    let worst = "ok";
    for (const level of WARNING_LEVELS) if ((deadline.item_levels || {})[level] > 0) worst = level;
    return worst;
  }

  // --- style -------------------------------------------------------------------------------
  function statusColor(layer) {
    if (!layer.statuses.length) return null;
    const expression = ["match", ["get", "status"]];
    layer.statuses.forEach((status, index) => expression.push(status.value, PALETTE[index % PALETTE.length]));
    expression.push("#333333");
    return expression;
  }

  function caseColorExpression() {
    const expression = ["match", ["get", "case_id"]];
    const entries = Object.entries(state.caseWarnings);
    if (!entries.length) return NO_CASE_COLOR;
    for (const [caseId, level] of entries) expression.push(caseId, WARNING_COLORS[level]);
    expression.push(NO_CASE_COLOR);
    return expression;
  }

  const today = () => new Date().toISOString().slice(0, 10);

  function styleLayers(layer) {
    const source = layer.name;
    const base = { source, "source-layer": layer.name };
    if (layer.name === "sites") {
      return [
        { ...base, id: "sites", type: "fill", paint: { "fill-color": "#d62728", "fill-opacity": 0.15 } },
        { ...base, id: "sites-outline", type: "line", paint: { "line-color": "#d62728", "line-width": 1.5 } },
        // At z <= 10 the layer's tiles count red lines per grid cell (points with `count`).
        { ...base, id: "sites-cells", type: "circle", filter: ["==", ["geometry-type"], "Point"], paint: { "circle-radius": 5, "circle-color": "#d62728", "circle-opacity": 0.6 } },
        // Cases: each red line outlined in the colour of its case's worst deadline warning.
        { ...base, id: "cases", type: "line", paint: { "line-color": caseColorExpression(), "line-width": 4, "line-opacity": 0.8, "line-offset": -2 } },
      ];
    }
    let color = statusColor(layer) || "#1f77b4";
    if (layer.name === "photos") color = ["case", ["==", ["get", "within_site"], false], "#ff7f0e", "#2ca02c"];
    const circle = {
      ...base, id: layer.name, type: "circle",
      paint: { "circle-radius": 6, "circle-color": color, "circle-stroke-color": "#ffffff", "circle-stroke-width": 1.5 },
    };
    if (layer.name === "findings") {
      // Deadline warning: an open finding past its due date gets a thick dark ring.
      circle.paint["circle-stroke-color"] = [
        "case", ["all", ["==", ["get", "status"], "open"], ["has", "due_date"], ["<", ["get", "due_date"], today()]], "#7b0000", "#ffffff",
      ];
      circle.paint["circle-stroke-width"] = [
        "case", ["all", ["==", ["get", "status"], "open"], ["has", "due_date"], ["<", ["get", "due_date"], today()]], 3, 1.5,
      ];
    }
    return [circle];
  }

  function styleIdsOf(name) {
    return name === "sites" ? ["sites", "sites-outline", "sites-cells"] : [name];
  }

  // --- filters -----------------------------------------------------------------------------
  function filterFor(layer) {
    const f = state.filter;
    const all = ["all"];
    if (f.caseIds.length) all.push(["in", ["coalesce", ["get", "case_id"], ""], ["literal", f.caseIds]]);
    if (f.status) all.push(["==", ["coalesce", ["get", "status"], ""], f.status]);
    const time = ["coalesce", ["get", layer.time_property], ["get", "created_at"], ""];
    if (f.from) all.push([">=", ["slice", time, 0, 10], f.from]);
    if (f.to) all.push(["<=", ["slice", time, 0, 10], f.to]);
    return all;
  }

  function layerIsShown(name) {
    const typeFilter = state.filter.layer;
    const layerName = name === "cases" ? "sites" : name;
    if (typeFilter && typeFilter !== layerName && !(typeFilter === "cases" && name === "cases")) return false;
    if (state.filter.status && name !== "cases") {
      const layer = config.layers.find((l) => l.name === layerName);
      if (!layer.statuses.some((s) => s.value === state.filter.status)) return false;
    }
    return state.visible[name];
  }

  function applyFilters() {
    for (const layer of config.layers) {
      for (const id of styleIdsOf(layer.name)) {
        if (!map.getLayer(id)) continue;
        const only = id === "sites-cells" ? [["==", ["geometry-type"], "Point"]] : [];
        map.setFilter(id, [...filterFor(layer), ...only]);
        map.setLayoutProperty(id, "visibility", layerIsShown(layer.name) ? "visible" : "none");
      }
    }
    if (map.getLayer("cases")) {
      const sites = config.layers.find((l) => l.name === "sites");
      map.setFilter("cases", filterFor(sites));
      map.setLayoutProperty("cases", "visibility", layerIsShown("cases") ? "visible" : "none");
    }
  }

  // --- page text -----------------------------------------------------------------------------
  function renderText() {
    document.documentElement.lang = language === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
    document.getElementById("language").textContent = t("other_language");
    renderSwitcher();
    renderLegend();
    renderSelects();
  }

  function renderSwitcher() {
    const box = document.getElementById("layer-switcher");
    box.replaceChildren();
    for (const name of [...config.layers.map((l) => l.name), "cases"]) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "checkbox";
      input.checked = state.visible[name];
      input.dataset.layer = name;
      input.addEventListener("change", () => { state.visible[name] = input.checked; applyFilters(); });
      label.append(input, " ", name === "cases" ? t("cases") : layerTitle(name));
      box.append(label);
    }
  }

  function legendRow(color, text, isArea) {
    const row = document.createElement("div");
    row.className = "legend-row";
    const swatch = document.createElement("span");
    swatch.className = "swatch" + (isArea ? " area" : "");
    swatch.style.background = color;
    row.append(swatch, text);
    return row;
  }

  function renderLegend() {
    const box = document.getElementById("legend");
    box.replaceChildren();
    const heading = (text) => { const h = document.createElement("div"); h.className = "legend-layer"; h.textContent = text; box.append(h); };
    heading(layerTitle("sites"));
    box.append(legendRow("rgba(214,39,40,.3)", layerTitle("sites"), true));
    heading(t("cases"));
    for (const level of WARNING_LEVELS) box.append(legendRow(WARNING_COLORS[level], t("warn_" + level), true));
    box.append(legendRow(NO_CASE_COLOR, t("no_case"), true));
    for (const layer of config.layers) {
      if (!layer.statuses.length) continue;
      heading(layerTitle(layer.name));
      layer.statuses.forEach((status, index) => box.append(legendRow(PALETTE[index % PALETTE.length], status.label)));
      if (layer.name === "findings") box.append(legendRow("#7b0000", t("overdue")));
    }
    heading(layerTitle("photos"));
    box.append(legendRow("#2ca02c", t("within_site")), legendRow("#ff7f0e", t("outside_site")));
  }

  function option(value, text, selected) {
    const el = document.createElement("option");
    el.value = value;
    el.textContent = text;
    el.selected = selected;
    return el;
  }

  function renderSelects() {
    const caseSelect = document.getElementById("filter-case");
    const chosenCase = state.filter.caseIds.length === 1 ? state.filter.caseIds[0] : "";
    caseSelect.replaceChildren(option("", t("all"), !chosenCase));
    for (const c of state.cases) {
      caseSelect.append(option(c.id, `${c.external_no} · ${c.project_code || ""} ${c.project_name || ""}`.trim(), c.id === chosenCase));
    }
    const typeSelect = document.getElementById("filter-type");
    typeSelect.replaceChildren(option("", t("all"), !state.filter.layer));
    for (const layer of config.layers) typeSelect.append(option(layer.name, layerTitle(layer.name), layer.name === state.filter.layer));
    const statusSelect = document.getElementById("filter-status");
    statusSelect.replaceChildren(option("", t("all"), !state.filter.status));
    const seen = new Set();
    for (const layer of config.layers) {
      if (state.filter.layer && state.filter.layer !== layer.name) continue;
      for (const status of layer.statuses) {
        if (seen.has(status.value)) continue;
        seen.add(status.value);
        statusSelect.append(option(status.value, status.label, status.value === state.filter.status));
      }
    }
  }

  function bindFilters() {
    document.getElementById("filter-case").addEventListener("change", (e) => { state.filter.caseIds = e.target.value ? [e.target.value] : []; applyFilters(); });
    document.getElementById("filter-type").addEventListener("change", (e) => { state.filter.layer = e.target.value; renderSelects(); applyFilters(); });
    document.getElementById("filter-status").addEventListener("change", (e) => { state.filter.status = e.target.value; applyFilters(); });
    document.getElementById("filter-from").addEventListener("change", (e) => { state.filter.from = e.target.value; applyFilters(); });
    document.getElementById("filter-to").addEventListener("change", (e) => { state.filter.to = e.target.value; applyFilters(); });
    document.getElementById("filter-reset").addEventListener("click", () => {
      state.filter = { caseIds: [], layer: "", status: "", from: "", to: "" };
      document.getElementById("filter-from").value = "";
      document.getElementById("filter-to").value = "";
      renderSelects();
      applyFilters();
    });
    document.getElementById("language").addEventListener("click", () => {
      language = language === "zh" ? "en" : "zh";
      localStorage.setItem("fieldMap.language", language);
      renderText();
    });
    document.getElementById("timeline-close").addEventListener("click", () => { document.getElementById("timeline").hidden = true; });
    document.getElementById("search").addEventListener("submit", (e) => { e.preventDefault(); search(document.getElementById("search-input").value.trim()); });
  }

  // --- search: a case number (external_no) or a project code, through the REST filters --------
  async function search(query) {
    const result = document.getElementById("search-result");
    if (!query) return [];
    let cases = (await getJson(`${config.urls.cases}?external_no=${encodeURIComponent(query)}`)).results;
    if (!cases.length) {
      const projects = (await getJson(`${config.urls.projects}?code=${encodeURIComponent(query)}`)).results;
      cases = [];
      for (const project of projects) {
        cases.push(...(await getJson(`${config.urls.cases}?project=${encodeURIComponent(project.id)}&limit=1000`)).results);
      }
    }
    if (!cases.length) {
      result.textContent = t("not_found");
      return [];
    }
    result.textContent = t("found_cases") + cases.map((c) => c.external_no).join(", ");
    state.filter.caseIds = cases.map((c) => c.id);
    renderSelects();
    applyFilters();
    await zoomToCases(state.filter.caseIds);
    return state.filter.caseIds;
  }

  async function zoomToCases(caseIds) {
    const bounds = new maplibregl.LngLatBounds();
    for (const caseId of caseIds) {
      const sites = await getJson(`${config.urls.sites}?case=${encodeURIComponent(caseId)}&limit=1000`);
      for (const site of sites.results || sites.features || []) {
        const geometry = site.geometry || site.boundary;
        if (geometry) extendBounds(bounds, geometry.coordinates);
      }
    }
    if (!bounds.isEmpty()) map.fitBounds(bounds, { padding: 40, maxZoom: 17, duration: 0 });
  }

  function extendBounds(bounds, coordinates) {
    if (typeof coordinates[0] === "number") bounds.extend(coordinates);
    else coordinates.forEach((c) => extendBounds(bounds, c));
  }

  // --- popups --------------------------------------------------------------------------------
  const SKIP_PROPERTIES = new Set(["version"]);

  async function showFeature(layerName, featureId, lngLat) {
    const feature = await getJson(fill(config.urls.item, { layer: layerName, id: featureId }));
    const box = document.createElement("div");
    box.className = "popup";
    box.dataset.featureId = feature.id;
    const title = document.createElement("strong");
    title.textContent = layerTitle(layerName);
    box.append(title);
    if (layerName === "photos") {
      try {
        const photo = await getJson(fill(config.urls.photo, { id: featureId }));
        if (photo.urls && photo.urls.thumbnail) {
          const img = document.createElement("img");
          img.src = photo.urls.thumbnail;
          img.alt = t("thumbnail");
          box.append(img);
        }
      } catch (error) {
        // A photo without a readable record still shows its feature's fields.
      }
    }
    const table = document.createElement("table");
    for (const [key, value] of Object.entries(feature.properties)) {
      if (SKIP_PROPERTIES.has(key)) continue;
      const row = table.insertRow();
      const th = document.createElement("th");
      th.textContent = key;
      row.append(th);
      row.insertCell().textContent = value === null ? "—" : String(value);
    }
    box.append(table);
    const caseId = feature.properties.case_id;
    if (caseId) {
      const link = document.createElement("a");
      link.href = "#";
      link.className = "timeline-link";
      link.textContent = t("open_timeline");
      link.addEventListener("click", (e) => { e.preventDefault(); showTimeline(caseId); });
      box.append(link);
    }
    const at = lngLat || (feature.geometry.type === "Point" ? feature.geometry.coordinates : map.getCenter());
    popup.setLngLat(at).setDOMContent(box).addTo(map);
    return feature;
  }

  async function showTimeline(caseId) {
    const panel = document.getElementById("timeline");
    const list = document.getElementById("timeline-entries");
    list.replaceChildren();
    panel.hidden = false;
    const page = await getJson(`${fill(config.urls.timeline, { id: caseId })}?limit=500`);
    for (const entry of page.results) {
      const item = document.createElement("li");
      item.textContent = `${entry.created_at.slice(0, 16).replace("T", " ")} ${entry.label}${entry.status ? " · " + entry.status : ""}`;
      list.append(item);
    }
    return page.results;
  }

  // --- the map -----------------------------------------------------------------------------
  const style = { version: 8, sources: {}, layers: [{ id: "background", type: "background", paint: { "background-color": "#eef0ea" } }] };
  if (config.base) {
    style.sources.base = { type: "raster", tiles: [config.base.url], tileSize: 256, attribution: config.base.attribution || "" };
    style.layers.push({ id: "base", type: "raster", source: "base" });
  }
  const map = new maplibregl.Map({ container: "map", style, center: [116.4, 39.9], zoom: 4, attributionControl: { compact: true } });
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  map.addControl(new maplibregl.ScaleControl(), "bottom-left");
  const popup = new maplibregl.Popup({ maxWidth: "360px" });
  const clickable = {};

  async function loadCases() {
    const cases = [];
    let next = `${config.urls.cases}?limit=1000`;
    while (next) {
      const page = await getJson(next);
      cases.push(...page.results);
      next = page.next;
    }
    state.cases = cases;
    state.caseWarnings = Object.fromEntries(cases.map((c) => [c.id, worstWarning(c.deadline)]));
  }

  async function start() {
    const [tileJsons] = await Promise.all([
      Promise.all(config.layers.map((layer) => getJson(fill(config.urls.tilejson, { layer: layer.name })))),
      loadCases(),
      new Promise((resolve) => map.once("load", resolve)),
    ]);
    const bounds = new maplibregl.LngLatBounds();
    config.layers.forEach((layer, index) => {
      const tj = tileJsons[index];
      map.addSource(layer.name, { type: "vector", tiles: tj.tiles, minzoom: tj.minzoom, maxzoom: 16, bounds: tj.bounds });
      if (tj.bounds[2] - tj.bounds[0] < 360) bounds.extend([[tj.bounds[0], tj.bounds[1]], [tj.bounds[2], tj.bounds[3]]]);
    });
    // Areas under points: sites first.
    for (const name of ["sites", "inspections", "surveys", "utility_points", "findings", "photos"]) {
      const layer = config.layers.find((l) => l.name === name);
      if (!layer) continue;
      for (const definition of styleLayers(layer)) {
        map.addLayer(definition);
        clickable[definition.id] = name;
        map.on("mouseenter", definition.id, () => { map.getCanvas().style.cursor = "pointer"; });
        map.on("mouseleave", definition.id, () => { map.getCanvas().style.cursor = ""; });
      }
    }
    // One handler for all layers: the topmost feature under the pointer, not one popup per layer.
    map.on("click", (event) => {
      const [feature] = map.queryRenderedFeatures(event.point, { layers: Object.keys(clickable) });
      if (feature) window.fieldMap.lastClick = showFeature(clickable[feature.layer.id], feature.properties.id, event.lngLat);
    });
    renderText();
    applyFilters();
    if (!bounds.isEmpty()) map.fitBounds(bounds, { padding: 40, maxZoom: 17, duration: 0 });
    await new Promise((resolve) => map.once("idle", resolve));
  }

  bindFilters();
  renderText();
  const ready = start();
  window.fieldMap = {
    map, config, state, ready, clickable, applyFilters, showFeature, showTimeline, search,
    setFilter(changes) { Object.assign(state.filter, changes); renderSelects(); applyFilters(); },
    setLanguage(value) { language = value; renderText(); },
    idle: () => new Promise((resolve) => (map.loaded() ? resolve() : map.once("idle", resolve))),
  };
})();
