/* The camera icon of every plot offers PNG and SVG (issue 14): a click on it opens a small menu
   instead of downloading a PNG at once. The file is Plotly's own export of the figure on screen,
   named after the graph (its toImageButtonOptions.filename). */
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
  function openMenu(button, gd) {
    closeMenus();
    var menu = document.createElement('div');
    menu.className = 'export-menu';
    [['png', 'PNG (2× pixels)'], ['svg', 'SVG (vector)']].forEach(function (item) {
      var entry = document.createElement('button');
      entry.type = 'button';
      entry.className = 'export-menu-item';
      entry.dataset.format = item[0];
      entry.textContent = item[1];
      entry.addEventListener('click', function (event) {
        event.stopPropagation();
        closeMenus();
        download(gd, item[0]);
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
