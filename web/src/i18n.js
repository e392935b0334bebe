// Polish by default, English on request; the choice is kept in localStorage.
const TEXTS = {
  pl: {
    basemap_legend: 'Mapa podkładowa', basemap_in_use: 'Mapa podkładowa: {name}.',
    basemap_fallback: 'Mapa „{failed}” nie wczytała się (brak połączenia?). Pokazano: {current}.',
    basemap_down: 'Mapa podkładowa jest chwilowo niedostępna; zagrożenia i granice są widoczne.',
    basemap_source: 'Źródło', basemap_policy: 'zasady korzystania',
    legend_pictograms: 'Po przybliżeniu do ulic: piktogram kategorii na kolorze statusu',
    legend_fade: 'Statystyka jest półprzezroczysta i znika w skali ulic, by było widać mapę podkładową.',
    location_near: '{place} ({distance} od punktu)', location_in_gmina: 'gmina {gmina}, {powiat}',
    location_coords: 'współrzędne: {lat}, {lon}', location_abroad: 'poza granicami gmin Polski',
    skip: 'Przejdź do treści', title: 'Krajowa Mapa Zagrożeń Bezpieczeństwa', tabs: 'Sekcje',
    tab_map: 'Mapa', tab_report: 'Zgłoś zagrożenie', tab_check: 'Sprawdź zgłoszenie',
    tab_area: 'Czy w mojej okolicy jest bezpiecznie?', tab_police: 'Panel Policji',
    search_label: 'Szukaj miejsca (miejscowość, gmina, powiat)', search_button: 'Szukaj',
    search_help: 'Np. Kraków, powiat tatrzański, Zakopane.', search_none: 'Nic nie znaleziono.',
    search_short: 'Wpisz co najmniej 2 znaki.',
    layers: 'Warstwy', layers_legend: 'Co pokazać na mapie',
    layer_threats: 'Zagrożenia zgłoszone przez mieszkańców', layer_boundaries: 'Granice województw i powiatów',
    wms_loading: 'Ładowanie warstw WMS…', wms_down: 'Warstwy WMS (statystyka przestępczości) są chwilowo niedostępne; reszta mapy działa.',
    wms_ok: 'Warstwy WMS z serwera map QGIS.',
    filters: 'Filtry zagrożeń', category: 'Kategoria', all_categories: 'Wszystkie kategorie',
    date_from: 'Zgłoszone od', date_to: 'do',
    filter_help: 'Filtry dotyczą pojedynczych zgłoszeń, widocznych po przybliżeniu do poziomu ulic.',
    filter_clear: 'Wyczyść filtry', legend: 'Legenda',
    legend_cells: 'zgłoszenia w komórce siatki; przybliż, aby zobaczyć pojedyncze',
    attribution: 'Dane: zgłoszenia mieszkańców (KMZB), statystyka GUS BDL / KGP, granice PRG (GUGiK), nazwy GeoNames (CC BY 4.0).',
    notice_title: 'To nie jest numer alarmowy.', notice112: 'W sytuacji zagrożenia życia lub zdrowia dzwoń 112.',
    location: 'Miejsce', location_none: 'Kliknij na mapie albo wyszukaj miejsce powyżej.',
    location_set: 'Wybrano: {lat}, {lon}', use_center: 'Użyj środka mapy', choose: '— wybierz —',
    event_date: 'Data zdarzenia (opcjonalnie)', time_of_day: 'Pora dnia (opcjonalnie)',
    description: 'Opis (opcjonalnie, do {max} znaków)', description_label: 'Opis',
    address_given: 'Adres podany przez system partnera', media_url_given: 'Adres zdjęcia (Open311)', media_url_not_fetched: 'nie jest pobierany automatycznie; otwórz go tylko, jeśli ufasz źródłu',
    attachments: 'Załączniki (opcjonalnie: do {count} plików po {mb} MB; zdjęcia, PDF, krótkie wideo)',
    send: 'Wyślij zgłoszenie', sending: 'Wysyłanie…',
    report_thanks: 'Dziękujemy. Zgłoszenie przyjęte.', your_reference: 'Numer zgłoszenia:',
    keep_reference: 'Zachowaj numer, aby sprawdzić, co dalej ze zgłoszeniem.',
    goes_to: 'Zgłoszenie trafiło do: {unit}.', check_status: 'Sprawdź status', report_another: 'Nowe zgłoszenie',
    need_location: 'Wskaż miejsce na mapie.', need_category: 'Wybierz kategorię.',
    reference_label: 'Numer zgłoszenia (XXXX-XXXX-XXXX)', check: 'Sprawdź', reference: 'Numer',
    bad_reference: 'Numer ma postać XXXX-XXXX-XXXX.',
    status: 'Status', reported: 'Zgłoszono', police_unit: 'Jednostka Policji', history: 'Historia',
    note: 'Notatka', show_on_map: 'Pokaż na mapie', not_on_map: 'To zgłoszenie nie jest widoczne na mapie publicznej.',
    forwarded_to: 'Przekazano do', event: 'Data zdarzenia',
    area_where: 'Gdzie?', area_point: 'Punkt na mapie i promień', area_unit: 'Gmina lub powiat (wyszukaj powyżej)',
    area_none: 'Kliknij na mapie albo wyszukaj miejsce.', area_unit_none: 'Wyszukaj gminę lub powiat powyżej i wybierz z listy.',
    radius: 'Promień', area_go: 'Pokaż podsumowanie',
    area_threats: 'Zgłoszone zagrożenia w okolicy', area_days: 'ostatnie {n} dni', area_total: 'Razem',
    area_no_threats: 'Brak publicznych zgłoszeń w tym obszarze w ostatnim roku.',
    area_crime: 'Przestępczość w powiecie na 10 tys. mieszkańców', area_national: 'średnia krajowa',
    area_ratio: 'W {year} r.: {rate} na 10 tys. mieszkańców, {ratio}× średniej krajowej ({national}).',
    area_chart: 'Wykres: przestępstwa na 10 tys. mieszkańców w latach {from}–{to}, {unit} i kraj.',
    area_circle: '{radius} m wokół punktu {lat}, {lon} ({gmina})', area_year: 'Rok', area_table: 'Dane wykresu w tabeli',
    area_source: 'Źródło: GUS BDL, dane Komendy Głównej Policji. Zgłoszenia: tylko widoczne publicznie.',
    open_by_reference: 'Otwórz zgłoszenie o numerze', previous: '← Poprzednie', next: 'Następne →', range: '{first}–{last} z {total}',
    signed_in: 'Zalogowano: {role}, {unit}.', role_officer: 'funkcjonariusz', role_coordinator: 'koordynator', role_admin: 'administrator', role_partner: 'partner', token: 'Token dostępu (JWT)', sign_in: 'Zaloguj', sign_out: 'Wyloguj',
    token_help: 'Token wydaje administrator (np. kmzb token issue --role coordinator --unit KWP-12). Zostaje tylko w tej karcie przeglądarki.',
    token_missing: 'Wklej token.', queue: 'Kolejka zgłoszeń', open_statuses: 'otwarte', overdue_only: 'tylko po terminie',
    refresh: 'Odśwież', open: 'Otwórz', overdue: 'Po terminie', queue_empty: 'Brak zgłoszeń w kolejce.',
    units: 'jednostki: {units}', new_status: 'Nowy status', public_note: 'Notatka publiczna (widzi ją każdy, kto zna numer zgłoszenia)', note_is_public: 'publiczna',
    choose_institution: 'Wybierz instytucję', no_institutions: 'Ta jednostka nie ma instytucji, do których przekazuje zgłoszenia.',
    change_status: 'Zmień status', no_moves: 'Z tego statusu nie ma dalszych zmian.', version: 'wersja',
    status_changed: 'Status zmieniony na: {status}.', conflict_title: 'Konflikt: zgłoszenie zmieniło się w międzyczasie.',
    reload: 'Wczytaj ponownie', attachments_list: 'Załączniki', source: 'Źródło', close: 'Zamknij',
    popup_title: 'Zgłoszenie', cell_hint: '{n} zgłoszeń w okolicy. Przybliż mapę, aby zobaczyć pojedyncze.',
    zoom_for_filter: 'Przybliż mapę, aby zobaczyć pojedyncze zgłoszenia z filtrami.',
    pick_hint_report: 'Kliknij na mapie miejsce zagrożenia.', pick_hint_area: 'Kliknij na mapie punkt, dla którego chcesz podsumowanie.',
    vocabulary_down: 'Nie udało się wczytać słownika usługi (statusy, kategorie); ponawiam…', error_network: 'Brak połączenia z usługą.',
    map_label: 'Mapa zagrożeń; strzałki przesuwają, + i − przybliżają, Enter wskazuje środek mapy',
    citizen: 'mieszkaniec', partner: 'partner', police: 'Policja',
    follow_area: 'Obserwuj ten obszar', follow_report: 'Obserwuj zgłoszenie', follow_view: 'Obserwuj widok mapy',
    follow_no_account: 'Bez konta i bez adresu e-mail: wystarczy czytnik kanałów (Atom) albo klient MQTT.',
    follow_no_account_feed: 'Bez konta i bez adresu e-mail: wystarczy czytnik kanałów (Atom).',
    follow_feed: 'Adres kanału Atom', follow_copy: 'Kopiuj adres kanału', follow_open: 'Otwórz kanał',
    follow_copied: 'Skopiowano adres kanału do schowka; wklej go w czytniku kanałów.',
    follow_copy_manual: 'Nie udało się skopiować; adres jest zaznaczony, skopiuj go (Ctrl+C).',
    follow_topic: 'Temat MQTT do subskrypcji', follow_broker: 'Serwer MQTT (tylko odczyt, bez logowania):',
    follow_broker_unknown: 'Ta usługa nie podaje adresu serwera MQTT; zapytaj jej administratora.',
    follow_command: 'Przykład w wierszu poleceń (mosquitto_sub)',
    follow_view_label: 'Prostokąt widoku mapy: {bbox} (dł. i szer. geograficzna).',
    follow_view_note: 'Tematy MQTT są według gmin i powiatów: wybierz gminę w zakładce „Czy w mojej okolicy jest bezpiecznie?”.',
    follow_report_note: 'Kanał pokazuje publiczne zmiany statusu tego zgłoszenia.',
  },
  en: {
    basemap_legend: 'Basemap', basemap_in_use: 'Basemap: {name}.',
    basemap_fallback: 'The “{failed}” basemap did not load (no connection?). Showing: {current}.',
    basemap_down: 'The basemap is unavailable right now; threats and boundaries are shown.',
    basemap_source: 'Source', basemap_policy: 'usage policy',
    legend_pictograms: 'At street level: the category pictogram on the status colour',
    legend_fade: 'The statistics are semi-transparent and fade out at street level, so the basemap shows through.',
    location_near: '{place} ({distance} from the point)', location_in_gmina: 'gmina {gmina}, {powiat}',
    location_coords: 'coordinates: {lat}, {lon}', location_abroad: 'outside Poland\'s gminy',
    skip: 'Skip to content', title: 'National Safety Threat Map', tabs: 'Sections',
    tab_map: 'Map', tab_report: 'Report a threat', tab_check: 'Check a report',
    tab_area: 'Is my area safe?', tab_police: 'Police panel',
    search_label: 'Find a place (town, gmina, county)', search_button: 'Search',
    search_help: 'E.g. Kraków, powiat tatrzański, Zakopane.', search_none: 'Nothing found.',
    search_short: 'Type at least 2 characters.',
    layers: 'Layers', layers_legend: 'What the map shows',
    layer_threats: 'Threats reported by residents', layer_boundaries: 'Voivodeship and county boundaries',
    wms_loading: 'Loading WMS layers…', wms_down: 'The WMS layers (crime statistics) are unavailable right now; the rest of the map works.',
    wms_ok: 'WMS layers from the QGIS map server.',
    filters: 'Threat filters', category: 'Category', all_categories: 'All categories',
    date_from: 'Reported from', date_to: 'to',
    filter_help: 'Filters apply to single reports, shown when zoomed in to street level.',
    filter_clear: 'Clear filters', legend: 'Legend',
    legend_cells: 'reports in a grid cell; zoom in to see single ones',
    attribution: 'Data: residents\' reports (KMZB), statistics GUS BDL / police HQ, PRG boundaries (GUGiK), GeoNames names (CC BY 4.0).',
    notice_title: 'This is not an emergency number.', notice112: 'If life or health is in danger, call 112.',
    location: 'Place', location_none: 'Click on the map or find a place above.',
    location_set: 'Chosen: {lat}, {lon}', use_center: 'Use the map centre', choose: '— choose —',
    event_date: 'Date of the event (optional)', time_of_day: 'Time of day (optional)',
    description: 'Description (optional, up to {max} characters)', description_label: 'Description',
    address_given: 'Address given by the partner system', media_url_given: 'Picture address (Open311)', media_url_not_fetched: 'never fetched automatically; open it only if you trust the source',
    attachments: 'Attachments (optional: up to {count} files of {mb} MB; photos, PDF, short video)',
    send: 'Send the report', sending: 'Sending…',
    report_thanks: 'Thank you. The report was received.', your_reference: 'Reference:',
    keep_reference: 'Keep the reference to check what becomes of the report.',
    goes_to: 'The report went to: {unit}.', check_status: 'Check the status', report_another: 'New report',
    need_location: 'Pick the place on the map.', need_category: 'Choose a category.',
    reference_label: 'Reference (XXXX-XXXX-XXXX)', check: 'Check', reference: 'Reference',
    bad_reference: 'A reference looks like XXXX-XXXX-XXXX.',
    status: 'Status', reported: 'Reported', police_unit: 'Police unit', history: 'History',
    note: 'Note', show_on_map: 'Show on the map', not_on_map: 'This report is not shown on the public map.',
    forwarded_to: 'Forwarded to', event: 'Event date',
    area_where: 'Where?', area_point: 'A point on the map and a radius', area_unit: 'A gmina or county (find it above)',
    area_none: 'Click on the map or find a place.', area_unit_none: 'Find a gmina or county above and pick it from the list.',
    radius: 'Radius', area_go: 'Show the summary',
    area_threats: 'Threats reported nearby', area_days: 'last {n} days', area_total: 'Total',
    area_no_threats: 'No public reports in this area in the last year.',
    area_crime: 'Crime in the county per 10,000 inhabitants', area_national: 'national average',
    area_ratio: 'In {year}: {rate} per 10,000 inhabitants, {ratio}× the national average ({national}).',
    area_chart: 'Chart: crimes per 10,000 inhabitants {from}–{to}, {unit} and the country.',
    area_circle: '{radius} m around {lat}, {lon} ({gmina})', area_year: 'Year', area_table: 'The chart as a table',
    area_source: 'Source: GUS BDL, police HQ data. Reports: only those shown publicly.',
    open_by_reference: 'Open the report with the reference', previous: '← Previous', next: 'Next →', range: '{first}–{last} of {total}',
    signed_in: 'Signed in: {role}, {unit}.', role_officer: 'officer', role_coordinator: 'coordinator', role_admin: 'administrator', role_partner: 'partner', token: 'Access token (JWT)', sign_in: 'Sign in', sign_out: 'Sign out',
    token_help: 'An administrator issues tokens (e.g. kmzb token issue --role coordinator --unit KWP-12). It stays in this browser tab only.',
    token_missing: 'Paste a token.', queue: 'Report queue', open_statuses: 'open', overdue_only: 'overdue only',
    refresh: 'Refresh', open: 'Open', overdue: 'Overdue', queue_empty: 'No reports in the queue.',
    units: 'units: {units}', new_status: 'New status', public_note: 'Public note (anyone with the reference can read it)', note_is_public: 'public',
    choose_institution: 'Choose an institution', no_institutions: 'This unit has no institution to forward reports to.',
    change_status: 'Change status', no_moves: 'No further change from this status.', version: 'version',
    status_changed: 'Status changed to: {status}.', conflict_title: 'Conflict: the report changed meanwhile.',
    reload: 'Reload', attachments_list: 'Attachments', source: 'Source', close: 'Close',
    popup_title: 'Report', cell_hint: '{n} reports nearby. Zoom in to see single ones.',
    zoom_for_filter: 'Zoom in to see single reports with the filters.',
    pick_hint_report: 'Click the place of the threat on the map.', pick_hint_area: 'Click the point you want a summary for.',
    vocabulary_down: 'The service\'s vocabulary (statuses, categories) did not load; retrying…', error_network: 'The service cannot be reached.',
    map_label: 'Threat map; arrow keys pan, + and − zoom, Enter picks the centre of the map',
    citizen: 'resident', partner: 'partner', police: 'police',
    follow_area: 'Follow this area', follow_report: 'Follow this report', follow_view: 'Follow the map view',
    follow_no_account: 'No account and no e-mail address: a feed reader (Atom) or an MQTT client is all it takes.',
    follow_no_account_feed: 'No account and no e-mail address: a feed reader (Atom) is all it takes.',
    follow_feed: 'Atom feed address', follow_copy: 'Copy the feed address', follow_open: 'Open the feed',
    follow_copied: 'The feed address is on the clipboard; paste it into a feed reader.',
    follow_copy_manual: 'Copying failed; the address is selected, copy it (Ctrl+C).',
    follow_topic: 'MQTT topic to subscribe to', follow_broker: 'MQTT broker (read-only, no login):',
    follow_broker_unknown: 'This service does not name its MQTT broker; ask its administrator.',
    follow_command: 'A command-line example (mosquitto_sub)',
    follow_view_label: 'The map view\'s rectangle: {bbox} (longitude, latitude).',
    follow_view_note: 'MQTT topics go by gmina and county: pick a gmina in the “Is my area safe?” tab.',
    follow_report_note: 'The feed shows this report\'s public status changes.',
  },
};

let lang = (() => {
  try { return localStorage.getItem('kmzb-lang') === 'en' ? 'en' : 'pl'; } catch { return 'pl'; }
})();
const listeners = [];

export function currentLang() { return lang; }

export function t(key, values = {}) {
  const text = TEXTS[lang][key] ?? TEXTS.pl[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}

// A {pl, en} pair from the API in the current language.
export function pick(pair) {
  if (!pair) return '';
  if (typeof pair === 'string') return pair;
  return pair[lang] ?? pair.pl ?? '';
}

export function applyTexts(root = document) {
  document.documentElement.lang = lang;
  // data-i18n-values: the values of the text's {placeholders}, as JSON (set by the panels)
  root.querySelectorAll('[data-i18n]').forEach((el) => {
    el.textContent = t(el.dataset.i18n, el.dataset.i18nValues ? JSON.parse(el.dataset.i18nValues) : {});
  });
  root.querySelectorAll('[data-i18n-aria]').forEach((el) => { el.setAttribute('aria-label', t(el.dataset.i18nAria)); });
  const button = document.getElementById('lang');
  if (button) {
    button.textContent = lang === 'pl' ? 'English' : 'Polski';
    button.lang = lang === 'pl' ? 'en' : 'pl';
    button.setAttribute('aria-label', lang === 'pl' ? 'Switch to English' : 'Przełącz na polski');
  }
  document.title = t('title');
}

export function setLang(next) {
  lang = next === 'en' ? 'en' : 'pl';
  try { localStorage.setItem('kmzb-lang', lang); } catch { /* private mode */ }
  applyTexts();
  listeners.forEach((fn) => fn(lang));
}

export function onLangChange(fn) { listeners.push(fn); }

export function formatDate(value) {
  if (!value) return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  const withTime = String(value).length > 10;
  return date.toLocaleString(lang === 'pl' ? 'pl-PL' : 'en-GB', withTime
    ? { dateStyle: 'medium', timeStyle: 'short', timeZone: 'Europe/Warsaw' }
    : { dateStyle: 'medium' });
}

// QGIS Server's layer titles are Polish; the page names them in English itself.
const WMS_TITLES_EN = {
  przestepczosc_powiaty: 'Crime per 10,000 inhabitants – counties',
  przestepczosc_wojewodztwa: 'Crime per 10,000 inhabitants – voivodeships',
  wojewodztwa: 'Voivodeships', powiaty: 'Counties (powiaty)', gminy: 'Communes (gminy)',
  zagrozenia_punkty: 'Reported threats', zagrozenia_siatka: 'Density of reports',
};
export function wmsTitle(name, title) { return lang === 'en' ? (WMS_TITLES_EN[name] || title) : title; }
