'use strict';
// The participant list's meeting filter: show the chosen meeting's participants as soon as a
// meeting is picked in the search box (Django's admin autocomplete, a select2 widget).
window.addEventListener('load', function() {
    const $ = window.django && window.django.jQuery;
    if (!$) {
        return;
    }
    $('#realtimekit-meeting-filter').on('select2:select', function() {
        this.form.submit();
    });
});
