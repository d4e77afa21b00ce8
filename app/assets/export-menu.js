/* The camera icon of every plot offers PNG, SVG and PDF (issues 14, 23): a click on it opens a small
   menu instead of downloading a PNG at once. PNG and SVG are Plotly's own export of the figure on
   screen, named after the graph (its toImageButtonOptions.filename); Plotly.js cannot write a PDF,
   so PDF is the server's print export of the same figure (/figure/<view>.pdf, app/figure_files.py),
   as `--plot FILE.pdf` writes it. */
(function () {
  function closeMenus() {
    document.querySelectorAll('.export-menu').forEach(function (m) { m.remove(); });
  }
  function download(gd, format) {
    var options = (gd._context && gd._context.toImageButtonOptions) || {};
    window.Plotly.downloadImage(gd, {
      format: format, filename: options.filename || 'landscape',
      scale: format === 'png' ? (options.scale || 2) : 1,
      width: gd._fullLayout.width, height: gd._fullLayout.height,
    });
  }
  function pdfAddress(gd) {
    var box = gd.closest('[id^="{"]');
    var id = box ? JSON.parse(box.id) : {};
    var search = new URLSearchParams(window.location.search);
    search.set('graph', id.graph || '');
    return '/figure/' + (id.view || window.location.pathname.replace(/^\//, '')) + '.pdf?' + search.toString();
  }
  function openMenu(button, gd) {
    closeMenus();
    var menu = document.createElement('div');
    menu.className = 'export-menu';
    [['png', 'PNG (2× pixels)'], ['svg', 'SVG (vector)'], ['pdf', 'PDF (for a paper)']].forEach(function (item) {
      var entry = document.createElement('button');
      entry.type = 'button';
      entry.className = 'export-menu-item';
      entry.dataset.format = item[0];
      entry.textContent = item[1];
      entry.addEventListener('click', function (event) {
        event.stopPropagation();
        closeMenus();
        if (item[0] === 'pdf') window.location.assign(pdfAddress(gd));
        else download(gd, item[0]);
      });
      menu.appendChild(entry);
    });
    var box = button.getBoundingClientRect();
    menu.style.left = (box.left + window.scrollX) + 'px';
    menu.style.top = (box.bottom + window.scrollY + 4) + 'px';
    document.body.appendChild(menu);
  }
  document.addEventListener('click', function (event) {
    var button = event.target.closest && event.target.closest('.modebar-btn');
    var title = button && (button.getAttribute('data-title') || '');
    if (button && /^Download plot/.test(title)) {
      event.preventDefault();
      event.stopImmediatePropagation();
      openMenu(button, button.closest('.js-plotly-plot'));
      return;
    }
    if (!(event.target.closest && event.target.closest('.export-menu'))) closeMenus();
  }, true);
})();
