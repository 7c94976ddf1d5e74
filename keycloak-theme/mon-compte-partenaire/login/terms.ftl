<#import "template.ftl" as layout>
<#import "buttons.ftl" as buttons>
<#-- Usage rules (R15): the seed's full text, then Refuser and Accepter, in the seed's order. -->
<@layout.registrationLayout displayMessage=false; section>
    <#if section = "header">
        ${msg("termsTitle")}
    <#elseif section = "form">
    <div class="${properties.kcContentWrapperClass}" id="mcp-terms-text">
        ${kcSanitize(msg("termsText"))?no_esc}
    </div>
    <form class="${properties.kcFormClass!}" action="${url.loginAction}" method="POST">
        <@buttons.actionGroup horizontal=true>
            <@buttons.button name="cancel" id="kc-decline" label="doDecline" type="secondary"/>
            <@buttons.button name="accept" id="kc-accept" label="doAccept"/>
        </@buttons.actionGroup>
    </form>
    <div class="clearfix"></div>
    </#if>
</@layout.registrationLayout>
